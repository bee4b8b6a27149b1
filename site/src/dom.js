// Small helpers for the page's own markup.

export const $ = (id) => document.getElementById(id);

// An element with attributes (properties, for values that are not strings) and children;
// null and undefined children are left out.
export function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}
