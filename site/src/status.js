// The status line under the Run button: what the page is doing and how the last run went.

import { $ } from "./dom.js";

export function setStatus(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.dataset.kind = kind;
}

// A run's answer failed when it has compile errors or a runtime error.
export function runFailed(answer) {
  return Boolean(answer && (answer.compile_errors?.length || answer.runtime_error));
}

// The status line after a run: its outcome and how long it took, as the browser timed it.
export function describeRun(answer) {
  const time = answer.seconds < 1 ? `${Math.round(answer.seconds * 1000)} ms` : `${answer.seconds.toFixed(2)} s`;
  const errors = answer.compile_errors.length;
  if (errors) return `${errors === 1 ? "1 compile error" : `${errors} compile errors`} (${time}).`;
  if (answer.runtime_error) return `The fiddle raised an error (${time}).`;
  const done = answer.cached ? `Done in ${time}, from storage` : `Ran in ${time}`;
  const passes = Object.keys(answer.output_errors || {});
  if (!passes.length) return `${done}.`;
  if (passes.length === 1) return `${done}; the ${passes[0]} pass raised an error, so its output is missing.`;
  const named = `${passes.slice(0, -1).join(", ")} and ${passes.at(-1)}`;
  return `${done}; the ${named} passes raised errors, so their outputs are missing.`;
}
