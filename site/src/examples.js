// The Examples menu: site/examples/index.json lists them; picking one loads its code and
// options and runs it. The menu stays hidden when the index cannot be read.

import { focusEditor, setCode } from "./codeEditor.js";
import { $, element } from "./dom.js";
import { writeOptions } from "./options.js";
import { showProblems } from "./problems.js";
import { run } from "./run.js";
import { setStatus } from "./status.js";

// Beside the bundle (site/dist/editor.js): site/examples/.
const EXAMPLES = new URL("../examples/", import.meta.url);

async function readIndex() {
  try {
    const response = await fetch(new URL("index.json", EXAMPLES));
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function openExample(example, menu) {
  menu.open = false;
  setStatus(`Loading the example “${example.title}”…`, "busy");
  try {
    const response = await fetch(new URL(example.file, EXAMPLES));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    setCode(await response.text());
    writeOptions(example.options || {});
    showProblems({});
    focusEditor();
    await run();
  } catch (error) {
    setStatus(`Could not load the example: ${error.message}`, "error");
  }
}

function exampleItem(example, menu) {
  const button = element(
    "button",
    { type: "button", class: "example", "data-file": example.file },
    element("span", { class: "example-title" }, example.title),
    element("span", { class: "example-text" }, example.description),
  );
  button.addEventListener("click", () => openExample(example, menu));
  return element("li", {}, button);
}

// Escape and a click elsewhere close the menu.
function closeOnLeave(menu) {
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
}

export async function startExamples() {
  const index = await readIndex();
  if (!index) return;
  const menu = $("examples");
  $("example-list").append(...index.examples.map((example) => exampleItem(example, menu)));
  menu.hidden = false;
  closeOnLeave(menu);
}
