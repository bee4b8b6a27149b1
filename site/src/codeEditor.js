// The code editor: CodeMirror 6 with Python, mounted over the page's <textarea id="code">, which
// stays the code's home until then (and without JavaScript).
//
// The editor lives in a shadow root: CodeMirror injects its styles at run time, and in a shadow
// root it does so with constructed style sheets, which the pages' Content-Security-Policy (no
// inline styles) allows; in the document itself it would need an inline <style>.

import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import {
  bracketMatching,
  foldGutter,
  foldKeymap,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { lintGutter, lintKeymap, setDiagnostics } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { EditorState, Prec } from "@codemirror/state";
import {
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { $ } from "./dom.js";
import { highlight, theme } from "./editorTheme.js";
import { errorLines, setErrorLines } from "./errorLines.js";

let view = null;

function editing() {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    foldGutter(),
    lintGutter(),
    highlightSpecialChars(),
    history(),
    drawSelection(),
    dropCursor(),
    EditorState.allowMultipleSelections.of(true),
    indentOnInput(),
    indentUnit.of("    "),
    EditorState.tabSize.of(4),
    syntaxHighlighting(highlight),
    bracketMatching(),
    closeBrackets(),
    autocompletion(),
    highlightActiveLine(),
    highlightSelectionMatches(),
  ];
}

// Mod-Enter runs the fiddle, before any other binding of the key.
function runKey(onRun) {
  return Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (onRun(), true) }]));
}

const keys = keymap.of([
  ...closeBracketsKeymap,
  ...defaultKeymap,
  ...searchKeymap,
  ...historyKeymap,
  ...foldKeymap,
  ...completionKeymap,
  ...lintKeymap,
  indentWithTab,
]);

// The content's accessible name and hint, and no spelling help in code.
const contentAttributes = EditorView.contentAttributes.of({
  "aria-label": "Code",
  "aria-describedby": "keyboard-hint",
  spellcheck: "false",
  autocapitalize: "off",
  autocorrect: "off",
});

// Replaces the textarea with the editor inside `host`; Mod-Enter calls `onRun`.
export function mountEditor(host, onRun) {
  const textarea = $("code");
  const extensions = [runKey(onRun), editing(), python(), errorLines, theme, contentAttributes, keys];
  view = new EditorView({
    parent: host.attachShadow({ mode: "open" }),
    state: EditorState.create({ doc: textarea.value, extensions }),
  });
  textarea.hidden = true;
  host.hidden = false;
}

export function getCode() {
  return view ? view.state.doc.toString() : $("code").value;
}

// Replaces the code (and forgets its problems); the cursor goes to the start.
export function setCode(code) {
  $("code").value = code;
  if (!view) return;
  view.dispatch({
    changes: { from: 0, to: view.state.doc.length, insert: code },
    selection: { anchor: 0 },
    effects: [setErrorLines.of([])],
  });
  view.dispatch(setDiagnostics(view.state, []));
}

export function focusEditor() {
  view?.focus();
}

// The document range of `line` (1-based) from column `col`: one character, or to the end of the
// line when `col` is 0; null when there is no such line.
export function rangeAt(line, col) {
  const doc = view?.state.doc;
  if (!doc || !line || line < 1 || line > doc.lines) return null;
  const at = doc.line(line);
  const from = Math.min(at.from + Math.max((col || 1) - 1, 0), at.to);
  return { from, to: col ? Math.min(from + 1, at.to) : at.to };
}

// Shows lint diagnostics and marks whole lines (replacing earlier ones).
export function markProblems(diagnostics, lines) {
  if (!view) return;
  view.dispatch(setDiagnostics(view.state, diagnostics));
  view.dispatch({ effects: setErrorLines.of(lines) });
}

// Moves the cursor to `line`, `col` (clamped to the document) and focuses the editor.
export function jumpTo(line, col) {
  if (!view) return;
  const doc = view.state.doc;
  const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
  view.dispatch({ selection: { anchor: Math.min(at.from + Math.max(col - 1, 0), at.to) }, scrollIntoView: true });
  view.focus();
}
