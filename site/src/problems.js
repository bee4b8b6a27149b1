// The problems of the last run: compile errors and the runtime error listed under the editor
// (a click moves the cursor there) and marked on their lines, or why the service refused it.

import { jumpTo, markProblems, rangeAt } from "./codeEditor.js";
import { $, element } from "./dom.js";
import { field } from "./options.js";

// The line of draw.py the traceback ends in (its last frame in the fiddle's code).
function runtimeLine(traceback) {
  const lines = [...traceback.matchAll(/File "draw\.py", line (\d+)/g)];
  return lines.length ? Number(lines[lines.length - 1][1]) : null;
}

const lastLine = (text) => text.trim().split("\n").pop();

// A problem that moves the cursor to its place when clicked; a traceback is shown below it.
function problemItem(where, text, line, col, traceback = false) {
  const message = traceback ? lastLine(text) : text;
  const button = element(
    "button",
    { type: "button", class: "problem-jump" },
    element("span", { class: "problem-where" }, where),
    element("span", { class: "problem-text" }, message),
  );
  if (line) {
    button.dataset.line = String(line);
    button.dataset.col = String(col || 1);
    button.setAttribute("aria-label", `${where}: ${message}. Move the cursor there.`);
  } else {
    button.disabled = true;
  }
  return element("li", { class: "problem" }, button, traceback ? element("pre", { class: "traceback" }, text) : null);
}

// The service refused the run: its sentence, and each refused option marked invalid.
function refusalItem(refusal) {
  const item = element("li", { class: "problem" }, element("p", {}, refusal.error));
  for (const [name, reasons] of Object.entries(refusal.fields || {})) {
    item.append(element("p", { class: "problem-detail" }, `${name}: ${reasons.join("; ")}`));
    const input = field(name.replace(/^options\./, ""));
    if (input instanceof Element) input.setAttribute("aria-invalid", "true");
  }
  return item;
}

function compileProblems(errors, found) {
  for (const error of errors) {
    const range = rangeAt(error.line, error.col);
    if (range) {
      found.lines.push(error.line);
      found.diagnostics.push({ ...range, severity: "error", message: error.text, source: "compile" });
    }
    const where = error.col ? `Line ${error.line}, column ${error.col}` : `Line ${error.line}`;
    found.items.push(problemItem(where, error.text, error.line, error.col));
  }
}

function runtimeProblem(traceback, found) {
  const line = runtimeLine(traceback);
  const range = rangeAt(line, 0);
  if (range) {
    found.lines.push(line);
    found.diagnostics.push({ ...range, severity: "error", message: lastLine(traceback), source: "runtime" });
  }
  found.items.push(problemItem(line ? `Line ${line}` : "Runtime error", traceback, line, 1, true));
}

// Lists and marks the problems (none: the list is hidden and the marks cleared).
export function showProblems({ compileErrors = [], runtimeError = "", requestError = null }) {
  const found = { items: [], diagnostics: [], lines: [] };
  compileProblems(compileErrors, found);
  if (runtimeError) runtimeProblem(runtimeError, found);
  if (requestError) found.items.push(refusalItem(requestError));
  $("problem-list").replaceChildren(...found.items);
  $("problems").hidden = found.items.length === 0;
  markProblems(found.diagnostics, found.lines);
}

// The problems of a run's answer (none for a fiddle this page did not run).
export function showAnswerProblems(answer) {
  showProblems(answer ? { compileErrors: answer.compile_errors, runtimeError: answer.runtime_error } : {});
}

export function startProblems() {
  $("problem-list").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-line]");
    if (button) jumpTo(Number(button.dataset.line), Number(button.dataset.col));
  });
}
