// The results area. The server renders it (templates/_results.html: on the page, and after a
// run through GET /e/<hash>/results); this module only shows that markup and enhances it: the
// zoom of the output images, the animation player (player.js), and, after a failed run, a note
// that points at the problems. The embeds show the same markup with resultsFragment (which
// enhances its players) and noteFailedRun.

import { API } from "./api.js";
import { $ } from "./dom.js";
import { enhancePlayers } from "./player.js";
import { runFailed } from "./status.js";

const FAILED_RUN = "No output: the fiddle failed. The problems are listed under the editor.";
// The attributes of the results' markup that hold addresses.
const ADDRESSES = ["src", "href", "data"];
// The images' own sizes, before any zoom.
const naturalSizes = new WeakMap();

// The server writes addresses under its own root ("/ai/..."); an API on another origin (the
// static site, an embed on someone else's page) serves them from there.
function pointAtApi(fragment, base) {
  if (!base) return;
  for (const name of ADDRESSES) {
    for (const node of fragment.querySelectorAll(`[${name}^="/"]`)) {
      node.setAttribute(name, base + node.getAttribute(name));
    }
  }
}

// The results markup from GET /e/<hash>/results as a fragment to show, its addresses on the
// API at `base` ("": this origin).
export function resultsFragment(html, base) {
  const template = document.createElement("template");
  template.innerHTML = html;
  pointAtApi(template.content, base);
  enhancePlayers(template.content);
  return template.content;
}

// After a failed run, the results' no-run notice says where the problems are.
export function noteFailedRun(results, answer) {
  const noRun = results.querySelector('[data-kind="no-run"]');
  if (noRun && runFailed(answer)) noRun.textContent = FAILED_RUN;
}

// Shows the results markup from GET /e/<hash>/results, for the run that gave `answer` (if any).
export function showResults(html, answer) {
  $("results").replaceChildren(resultsFragment(html, API));
  noteFailedRun($("results"), answer);
  applyZoom();
}

// What a new fiddle shows before it runs (the page's <template id="results-empty">).
export function showEmptyResults() {
  $("results").replaceChildren($("results-empty").content.cloneNode(true));
  applyZoom();
}

function naturalSize(img) {
  if (!naturalSizes.has(img)) {
    naturalSizes.set(img, { w: Number(img.getAttribute("width")), h: Number(img.getAttribute("height")) });
  }
  return naturalSizes.get(img);
}

// Scales the output images by the zoom choice ("fit": to the pane); the control shows only
// when there is an image.
function applyZoom() {
  const results = $("results");
  const zoom = $("zoom").value;
  $("zoom-control").hidden = !results.querySelector("img.output-image");
  results.classList.toggle("zoom-fit", zoom === "fit");
  const scale = zoom === "fit" ? 1 : Number(zoom);
  for (const img of results.querySelectorAll("img.output-image")) {
    const size = naturalSize(img);
    img.width = size.w * scale;
    img.height = size.h * scale;
  }
}

export function startResults() {
  $("zoom").addEventListener("change", applyZoom);
  enhancePlayers($("results"));
  applyZoom();
}
