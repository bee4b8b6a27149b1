// Running the fiddle: Run, Ctrl/Cmd+Enter anywhere on the page, or an example. POST /_/run,
// then the problems, the stored fiddle's results and a history entry at /c/<hash>.

import { postRun } from "./api.js";
import { getCode } from "./codeEditor.js";
import { $ } from "./dom.js";
import { recordRun } from "./history.js";
import { clearInvalidOptions, readOptions } from "./options.js";
import { showAnswerProblems, showProblems } from "./problems.js";
import { setStatus } from "./status.js";
import { loadStored, showStored } from "./storedFiddle.js";

let running = false;

function optionsAreValid() {
  const form = $("fiddle-form");
  clearInvalidOptions();
  if (form.checkValidity()) return true;
  $("options-panel").open = true;
  form.reportValidity();
  setStatus("Some options are not valid.", "error");
  return false;
}

function setRunning(on) {
  running = on;
  if (on) $("run").setAttribute("aria-busy", "true");
  else $("run").removeAttribute("aria-busy");
  $("fiddle-form").classList.toggle("is-running", on);
}

function showRefusal(response, body) {
  showProblems({ requestError: body });
  setStatus(response.status === 400 ? "The service refused the fiddle." : body.error, "error");
}

// The Skia build the page's picker names (templates/_results.html); HEAD when it has none.
function pickedVersion() {
  const picked = document.getElementById("version")?.value || "HEAD";
  return picked === "HEAD" ? undefined : picked;
}

async function runAndShow() {
  const options = readOptions();
  const version = pickedVersion();
  const started = performance.now();
  const { response, body } = await postRun(getCode(), options, version);
  const seconds = (performance.now() - started) / 1000;
  if (!response.ok) return showRefusal(response, body);
  const answer = {
    compile_errors: body.compile_errors || [],
    runtime_error: body.runtime_error || "",
    output_errors: body.output_errors || {},
    cached: body.cached,
    seconds,
  };
  showAnswerProblems(answer);
  // At a picked build, the results of the run there, which need not be the fiddle's newest.
  showStored(body.fiddleHash, await loadStored(body.fiddleHash, version && body.runid), answer);
  recordRun(body.fiddleHash, answer);
}

export async function run() {
  if (running || !optionsAreValid()) return;
  setRunning(true);
  setStatus("Running…", "busy");
  try {
    await runAndShow();
  } catch (error) {
    setStatus(`The service did not answer: ${error.message}`, "error");
  } finally {
    setRunning(false);
  }
}

// Run submits the form; Ctrl/Cmd+Enter submits it from anywhere on the page, not only the editor.
export function startRun() {
  const form = $("fiddle-form");
  $("run").disabled = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}
