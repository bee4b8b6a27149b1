// The Skia builds section of the fiddle page (templates/_results.html, `builds`): after a run or
// Back and Forward, it shows the builds of the fiddle now on screen, from its /e/<hash> JSON
// (`builds`), as the server renders them; its forms then show and compare that fiddle's builds.

import { API } from "./api.js";
import { $, element } from "./dom.js";

function buildItem(hash, build) {
  const name = element("a", { class: "build-name", href: `/c/${hash}?version=${encodeURIComponent(build.runid)}` }, `m${build.milestone} (${build.version})`);
  const item = element("li", { class: "build", "data-runid": build.runid, "data-status": build.status }, name);
  if (build.head) item.append(" ", element("span", { class: "badge" }, "HEAD"));
  if (build.status === "outputs") {
    const links = build.outputs.map((output) => element("a", { href: API + output.url, type: output.mime }, output.label));
    item.append(" ", element("span", { class: "build-links" }, ...links));
  } else {
    const error = element("pre", { class: "build-error" }, build.error);
    item.append(" ", element("details", { class: "build-failed" }, element("summary", {}, "failed here"), error));
  }
  return item;
}

// Shows the builds of fiddle `hash` (its /e/ JSON's `builds`).
export function showBuilds(hash, builds) {
  const section = $("builds");
  if (!section || !hash || !Array.isArray(builds)) return;
  for (const form of section.querySelectorAll("form")) form.setAttribute("action", `/c/${hash}`);
  const stored = builds.filter((build) => build.status !== "not run");
  let list = section.querySelector(".build-list");
  if (!list) {
    list = element("ul", { class: "build-list", "aria-label": "Builds this fiddle has run at" });
    $("version-form").after(list);
  }
  list.replaceChildren(...stored.map((build) => buildItem(hash, build)));
  list.hidden = stored.length === 0;
}
