// The editor page (`/` and `/c/<hash>`): turns the server-rendered page into the editor.
// Bundled by esbuild into site/dist/editor.js (`npm run build`).
//
// It talks only to the API (POST /_/run, GET /e/<hash> and /e/<hash>/results, outputs under
// /i/ and /ai/; for signed-in visitors POST /_/name and POST /_/upload; the source picker's
// GET /_/sources and /s/) at the address in <meta name="fiddle-api"> (api.js), so the same page
// works when site/ is served as plain files from another origin.
//
// One module per part of the page: codeEditor (CodeMirror; editorTheme, errorLines), options
// and sources (the options panel and its image picker), problems, results, run, share and
// naming, history (Back and Forward), examples; state holds which fiddle is on screen.

import { mountEditor, focusEditor } from "./codeEditor.js";
import { $ } from "./dom.js";
import { startExamples } from "./examples.js";
import { startHistory } from "./history.js";
import { startNaming } from "./naming.js";
import { startOptions } from "./options.js";
import { startProblems } from "./problems.js";
import { startResults } from "./results.js";
import { startRun } from "./run.js";
import { startShare } from "./share.js";
import { startSources } from "./sources.js";

function startEditor() {
  mountEditor($("editor"), () => $("fiddle-form").requestSubmit());
  // The <label> named the fallback textarea; the editor's content carries its own name ("Code").
  $("code-label").removeAttribute("for");
  $("code-label").addEventListener("click", focusEditor);
  $("keyboard-hint").hidden = false;
}

function start() {
  startEditor();
  startOptions();
  startRun();
  startProblems();
  startResults();
  startSources();
  startNaming();
  startShare();
  startHistory();
  startExamples();
  document.documentElement.classList.add("editor-ready");
}

start();
