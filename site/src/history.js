// Back and Forward: each stored fiddle this page showed is a history entry at /c/<hash>, and
// the new fiddle the page opened with is one too. Going back reloads the fiddle from the API.

import { getCode, setCode } from "./codeEditor.js";
import { $ } from "./dom.js";
import { DEFAULT_OPTIONS, readOptions, writeOptions } from "./options.js";
import { showAnswerProblems, showProblems } from "./problems.js";
import { showEmptyResults } from "./results.js";
import { updateShare } from "./share.js";
import { currentState, setCurrentState } from "./state.js";
import { setStatus } from "./status.js";
import { loadStored, showStored } from "./storedFiddle.js";

function showNewFiddle(state) {
  setCode(state?.code ?? $("code").defaultValue);
  writeOptions(state?.options || DEFAULT_OPTIONS);
  showProblems({});
  showEmptyResults();
  updateShare(null);
  setStatus("");
}

async function showState(state) {
  setCurrentState(state || { hash: null });
  if (!state?.hash) return showNewFiddle(state);
  setStatus("Loading…", "busy");
  try {
    const stored = await loadStored(state.hash);
    if (currentState() !== state) return; // another Back or Forward came first
    setCode(stored.fiddle.code);
    writeOptions(stored.fiddle.options);
    showAnswerProblems(state.answer);
    showStored(state.hash, stored, state.answer);
  } catch (error) {
    setStatus(`Could not load fiddle ${state.hash}: ${error.message}`, "error");
  }
}

// A run's fiddle becomes the current entry: a new one, unless the run gave the same fiddle.
export function recordRun(hash, answer) {
  const state = { hash, answer };
  if (hash !== currentState().hash) window.history.pushState(state, "", `/c/${hash}`);
  else window.history.replaceState(state, "", `/c/${hash}`);
  setCurrentState(state);
}

// The entry of the page as it opened. A plain-file copy of the page (site/ behind a CDN that
// maps /c/* to it) has no fiddle in its markup: the address says which one to load.
export function startHistory() {
  const shown = $("fiddle-hash").textContent.trim();
  const hash = shown || location.pathname.match(/\/c\/([0-9a-f]{32})$/)?.[1];
  const initial = hash ? { hash } : { hash: null, code: getCode(), options: readOptions() };
  window.history.replaceState(initial, "", location.href);
  setCurrentState(initial);
  if (!shown && hash) showState(initial);
  window.addEventListener("popstate", (event) => showState(event.state));
}
