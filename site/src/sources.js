// The source image picker: a radio group of thumbnails (native radios: arrow keys move between
// them). The server renders "None" and the fiddle's own source; GET /_/sources fills in the
// rest. Signed-in visitors upload with POST /_/upload, and the new image is chosen.

import { api, listSources, postUpload } from "./api.js";
import { $, element } from "./dom.js";

let sourceIds = null; // every source image, from GET /_/sources; null until it answers
// Sources the server said were deleted (the page of a fiddle whose image an admin removed).
let removedSources = new Set();

function sourceInputs() {
  return [...$("options").querySelectorAll('input[name="source"]')];
}

export function selectedSource() {
  return Number(sourceInputs().find((input) => input.checked)?.value || 0);
}

// Chooses source `id`, adding it to the list when it is not there (yet).
export function selectSource(id) {
  const input = sourceInputs().find((candidate) => Number(candidate.value) === id);
  if (input) input.checked = true;
  else renderSources(id);
}

function thumbnail(id, removed) {
  if (!id || removed) return element("span", { class: "source-thumb source-none", "aria-hidden": "true" });
  const thumb = element("img", { class: "source-thumb", src: api(`/s/${id}?size=64`), alt: "", loading: "lazy" });
  thumb.width = 64;
  thumb.height = 64;
  return thumb;
}

function sourceChoice(id, removed) {
  const input = element("input", { type: "radio", name: "source", value: String(id) });
  const name = element(
    "span",
    { class: "source-name" },
    id ? `Image ${id}` : "None",
    removed ? " " : null,
    removed ? element("span", { class: "source-gone" }, "(removed)") : null,
  );
  return element("li", {}, element("label", { class: "source-choice" }, input, thumbnail(id, removed), name));
}

function isRemoved(id) {
  return removedSources.has(id) || (sourceIds !== null && !sourceIds.includes(id));
}

function renderSources(selected) {
  const shown = sourceInputs().map((input) => Number(input.value)).filter(Boolean);
  const ids = new Set(sourceIds ?? shown);
  if (selected) ids.add(selected);
  const choices = [0, ...[...ids].sort((a, b) => a - b)].map((id) => sourceChoice(id, id !== 0 && isRemoved(id)));
  $("source-list").replaceChildren(...choices);
  for (const input of sourceInputs()) input.checked = Number(input.value) === selected;
}

async function refreshSources() {
  sourceIds = await listSources();
  renderSources(selectedSource());
}

function setSourceStatus(text, kind = "") {
  $("source-status").textContent = text;
  $("source-status").dataset.kind = kind;
}

// Chooses a new source the way a click would, so that the options panel follows.
function chooseUploaded(id) {
  selectSource(id);
  sourceInputs().find((input) => input.checked)?.dispatchEvent(new Event("change", { bubbles: true }));
}

async function upload(file) {
  const { response, body } = await postUpload(file);
  if (!response.ok) {
    setSourceStatus(body.error || `The upload failed (HTTP ${response.status}).`, "error");
    return;
  }
  await refreshSources().catch(() => {});
  chooseUploaded(Number(body.id));
  setSourceStatus(`Uploaded image ${body.id} and chose it as the source.`, "ok");
}

async function uploadFrom(input) {
  const file = input.files?.[0];
  if (!file) return;
  setSourceStatus(`Uploading ${file.name}…`, "busy");
  input.disabled = true;
  try {
    await upload(file);
  } catch (error) {
    setSourceStatus(`The upload failed: ${error.message}`, "error");
  } finally {
    input.disabled = false;
    input.value = "";
  }
}

export function startSources() {
  removedSources = new Set(
    [...document.querySelectorAll("#source-list .source-gone")].map((gone) =>
      Number(gone.closest("label").querySelector("input").value),
    ),
  );
  $("source-upload")?.addEventListener("change", (event) => uploadFrom(event.target));
  refreshSources().catch(() => setSourceStatus("The list of source images could not be loaded.", "error"));
}
