// The problems of the last run on the editor page: listed under the editor (a click moves the
// cursor there) and marked on their lines, or why the service refused it, with the refused
// options marked invalid. The items and marks are problemItems.js's.

import { jumpTo, markProblems, rangeAt } from "./codeEditor.js";
import { $ } from "./dom.js";
import { field } from "./options.js";
import { answerProblems, findProblems, jumpOnClick } from "./problemItems.js";

const pageEditor = { rangeAt, jumpTo };

function markRefusedOptions(refusal) {
  for (const name of Object.keys(refusal?.fields || {})) {
    const input = field(name.replace(/^options\./, ""));
    if (input instanceof Element) input.setAttribute("aria-invalid", "true");
  }
}

// Lists and marks the problems (none: the list is hidden and the marks cleared).
export function showProblems(problems) {
  const found = findProblems(problems, pageEditor);
  markRefusedOptions(problems.requestError);
  $("problem-list").replaceChildren(...found.items);
  $("problems").hidden = found.items.length === 0;
  markProblems(found.diagnostics, found.lines);
}

// The problems of a run's answer (none for a fiddle this page did not run).
export function showAnswerProblems(answer) {
  showProblems(answerProblems(answer));
}

export function startProblems() {
  jumpOnClick($("problem-list"), pageEditor);
}
