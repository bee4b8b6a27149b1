// The problems of a run as list items and editor marks: compile errors, the runtime error and
// the error of each output pass that failed alone (each a button that moves the cursor to its
// place, a traceback shown below it), or why the service refused the run. The editor page
// (problems.js) and the embeds show them.

import { element } from "./dom.js";

// The line of draw.py the traceback ends in (its last frame in the fiddle's code).
function runtimeLine(traceback) {
  const lines = [...traceback.matchAll(/File "draw\.py", line (\d+)/g)];
  return lines.length ? Number(lines[lines.length - 1][1]) : null;
}

const lastLine = (text) => text.trim().split("\n").pop();

// A compile error's text reads as a compiler prints it ("draw.py:4:12: error: SyntaxError: ...");
// the list already says where, so it shows what follows.
const compilerMessage = (text) => text.replace(/^draw\.py(?::\d+:\d+)?: error: /, "");

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

// The service refused the run: its sentence, and what it said of each refused field.
function refusalItem(refusal) {
  const item = element("li", { class: "problem" }, element("p", {}, refusal.error));
  for (const [name, reasons] of Object.entries(refusal.fields || {})) {
    item.append(element("p", { class: "problem-detail" }, `${name}: ${reasons.join("; ")}`));
  }
  return item;
}

function compileProblems(errors, found, editor) {
  for (const error of errors) {
    const range = editor.rangeAt(error.line, error.col);
    if (range) {
      found.lines.push(error.line);
      found.diagnostics.push({ ...range, severity: "error", message: compilerMessage(error.text), source: "compile" });
    }
    const where = error.col ? `Line ${error.line}, column ${error.col}` : `Line ${error.line}`;
    found.items.push(problemItem(where, compilerMessage(error.text), error.line, error.col));
  }
}

// `pass`: the output pass it was raised in, when only that pass failed ("pdf").
function runtimeProblem(traceback, found, editor, pass = "") {
  const line = runtimeLine(traceback);
  const range = editor.rangeAt(line, 0);
  const inPass = pass ? ` (${pass} pass)` : "";
  if (range) {
    found.lines.push(line);
    found.diagnostics.push({ ...range, severity: "error", message: lastLine(traceback) + inPass, source: "runtime" });
  }
  const where = line ? `Line ${line}${inPass}` : pass ? `In the ${pass} pass` : "Runtime error";
  found.items.push(problemItem(where, traceback, line, 1, true));
}

// `{ items, diagnostics, lines }`: the list items, and the lint diagnostics and whole lines to
// mark in `editor` (a CodeEditor of codeEditor.js, or anything with its rangeAt).
export function findProblems(
  { compileErrors = [], runtimeError = "", outputErrors = {}, requestError = null },
  editor,
) {
  const found = { items: [], diagnostics: [], lines: [] };
  compileProblems(compileErrors, found, editor);
  if (runtimeError) runtimeProblem(runtimeError, found, editor);
  for (const [pass, traceback] of Object.entries(outputErrors)) runtimeProblem(traceback, found, editor, pass);
  if (requestError) found.items.push(refusalItem(requestError));
  return found;
}

// The problems of a run's answer (none for a fiddle that was not run here).
export function answerProblems(answer) {
  if (!answer) return {};
  return {
    compileErrors: answer.compile_errors,
    runtimeError: answer.runtime_error,
    outputErrors: answer.output_errors || {},
  };
}

// A click on a problem in `list` moves the cursor of `editor` (with jumpTo) there.
export function jumpOnClick(list, editor) {
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-line]");
    if (button) editor.jumpTo(Number(button.dataset.line), Number(button.dataset.col));
  });
}
