// The share panel: the fiddle's heading and title, its link and embed snippets (the result, and
// the code with Run: an iframe and a script) with Copy buttons.
// (Its naming form is naming.js.)

import { API } from "./api.js";
import { $ } from "./dom.js";
import { setNameStatus } from "./naming.js";

function showNew() {
  $("fiddle-heading").firstChild.textContent = "New fiddle ";
  $("fiddle-hash").hidden = true;
  document.title = "New fiddle · Skia Fiddle for Python";
}

// The embed snippets, as templates/fiddle.html writes them for the fiddle the page opened with.
function embedCode(hash, options) {
  return (
    `<iframe src="${location.origin}/iframe/${hash}" width="${options.width + 20}" height="${options.height + 60}" ` +
    `title="Skia fiddle ${hash}" loading="lazy"></iframe>`
  );
}

// The interactive iframe: the code (up to 16 lines or so) and the toolbar take about 300 px
// above the result, which scrolls when it is taller than 400 px.
function interactiveFrameCode(hash, options) {
  const width = Math.max(options.width + 40, 600);
  const height = Math.min(options.height, 400) + 300;
  return (
    `<iframe src="${location.origin}/iframe/${hash}?code=1" width="${width}" height="${height}" ` +
    `title="Skia fiddle ${hash}" loading="lazy"></iframe>`
  );
}

// The web component; it finds the API where the script came from, unless told otherwise.
function scriptCode(hash) {
  const api = API && API !== location.origin ? ` api="${API}"` : "";
  return (
    `<script type="module" src="${location.origin}/static/dist/embed.js"></script>\n` +
    `<fiddle-embed hash="${hash}"${api}></fiddle-embed>`
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
  $("share-embed-code").value = interactiveFrameCode(hash, options);
  $("share-embed-script").value = scriptCode(hash);
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
