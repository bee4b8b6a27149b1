// The share panel: the fiddle's heading and title, its link and embed snippet with Copy buttons.
// (Its naming form is naming.js.)

import { $ } from "./dom.js";
import { setNameStatus } from "./naming.js";

function showNew() {
  $("fiddle-heading").firstChild.textContent = "New fiddle ";
  $("fiddle-hash").hidden = true;
  document.title = "New fiddle · Skia Fiddle for Python";
}

function embedCode(hash, options) {
  return (
    `<iframe src="${location.origin}/iframe/${hash}" width="${options.width + 20}" height="${options.height + 60}" ` +
    `title="Skia fiddle ${hash}" loading="lazy"></iframe>`
  );
}

// Shows stored fiddle `hash` (with its options), or a new fiddle when `hash` is null.
export function updateShare(hash, options) {
  const code = $("fiddle-hash");
  $("share").hidden = !hash;
  if (!hash) return showNew();
  if (hash !== code.textContent) setNameStatus("");
  const signin = $("name-signin");
  if (signin) signin.href = `/signin?next=${encodeURIComponent(`/c/${hash}`)}`;
  $("fiddle-heading").firstChild.textContent = "Fiddle ";
  code.hidden = false;
  code.textContent = hash;
  document.title = `Fiddle ${hash} · Skia Fiddle for Python`;
  $("share-link").value = `${location.origin}/c/${hash}`;
  $("share-embed").value = embedCode(hash, options);
}

async function copyFrom(button) {
  const source = $(button.dataset.copy);
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.value);
  } catch {
    source.focus();
    source.select();
    document.execCommand("copy");
  }
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = label), 1500);
}

// Shows the Copy buttons (hidden in the markup: they need the script).
export function startShare() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.hidden = false;
    button.addEventListener("click", () => copyFrom(button));
  }
}
