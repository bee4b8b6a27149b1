// The code editor: CodeMirror 6 with Python. createEditor() makes one anywhere (the embeds make
// a compact one each); the editor page's is mounted over its <textarea id="code">, which stays
// the code's home until then (and without JavaScript), and the functions below it act on that one.
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

// The editor page's features.
export function pageFeatures() {
  return [editing(), pageKeys()];
}

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

// The editor page's keys: Tab indents there (Esc then Tab moves on).
function pageKeys() {
  return keymap.of([
    ...closeBracketsKeymap,
    ...defaultKeymap,
    ...searchKeymap,
    ...historyKeymap,
    ...foldKeymap,
    ...completionKeymap,
    ...lintKeymap,
    indentWithTab,
  ]);
}

// The embeds' compact editor: no folding, completion or search (a smaller bundle), and Tab is
// left to the browser, so that it moves on to Run (Ctrl/Cmd+] and [ indent).
export function compactFeatures() {
  return [
    lineNumbers(),
    lintGutter(),
    highlightSpecialChars(),
    history(),
    drawSelection(),
    indentOnInput(),
    indentUnit.of("    "),
    EditorState.tabSize.of(4),
    syntaxHighlighting(highlight),
    bracketMatching(),
    closeBrackets(),
    highlightActiveLine(),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...lintKeymap]),
  ];
}

// Mod-Enter runs the fiddle, before any other binding of the key.
function runKey(onRun) {
  return Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (onRun(), true) }]));
}

// No spelling help in code; `attributes` add the content's accessible name and hint.
function contentAttributes(attributes) {
  return EditorView.contentAttributes.of({ spellcheck: "false", autocapitalize: "off", autocorrect: "off", ...attributes });
}

// One editor and what the pages do with it.
export class CodeEditor {
  constructor(view) {
    this.view = view;
  }

  get code() {
    return this.view.state.doc.toString();
  }

  // Replaces the code (and forgets its problems); the cursor goes to the start.
  setCode(code) {
    const view = this.view;
    view.dispatch({
      changes: { from: 0, to: view.state.doc.length, insert: code },
      selection: { anchor: 0 },
      effects: [setErrorLines.of([])],
    });
    view.dispatch(setDiagnostics(view.state, []));
  }

  focus() {
    this.view.focus();
  }

  // The document range of `line` (1-based) from column `col`: one character, or to the end of
  // the line when `col` is 0; null when there is no such line.
  rangeAt(line, col) {
    const doc = this.view.state.doc;
    if (!line || line < 1 || line > doc.lines) return null;
    const at = doc.line(line);
    const from = Math.min(at.from + Math.max((col || 1) - 1, 0), at.to);
    return { from, to: col ? Math.min(from + 1, at.to) : at.to };
  }

  // Shows lint diagnostics and marks whole lines (replacing earlier ones).
  markProblems(diagnostics, lines) {
    this.view.dispatch(setDiagnostics(this.view.state, diagnostics));
    this.view.dispatch({ effects: setErrorLines.of(lines) });
  }

  // Moves the cursor to `line`, `col` (clamped to the document) and focuses the editor.
  jumpTo(line, col) {
    const doc = this.view.state.doc;
    const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
    const anchor = Math.min(at.from + Math.max(col - 1, 0), at.to);
    this.view.dispatch({ selection: { anchor }, scrollIntoView: true });
    this.view.focus();
  }
}

// An editor in `parent` (an element or a shadow root) holding `doc`, with `features`
// (pageFeatures() or compactFeatures()). Mod-Enter calls `onRun`; `attributes` go on the editable
// content (its accessible name); `onChange` hears every edit.
export function createEditor({ parent, doc, features, onRun, attributes, onChange = null }) {
  const extensions = [runKey(onRun), features, python(), errorLines, theme, contentAttributes(attributes)];
  if (onChange) extensions.push(EditorView.updateListener.of((update) => update.docChanged && onChange()));
  return new CodeEditor(new EditorView({ parent, state: EditorState.create({ doc, extensions }) }));
}

// --- the editor page's editor ---------------------------------------------------------------

let pageEditor = null;

// Replaces the textarea with the editor inside `host`; Mod-Enter calls `onRun`.
export function mountEditor(host, onRun) {
  const textarea = $("code");
  pageEditor = createEditor({
    parent: host.attachShadow({ mode: "open" }),
    doc: textarea.value,
    features: pageFeatures(),
    onRun,
    attributes: { "aria-label": "Code", "aria-describedby": "keyboard-hint" },
  });
  textarea.hidden = true;
  host.hidden = false;
}

export function getCode() {
  return pageEditor ? pageEditor.code : $("code").value;
}

export function setCode(code) {
  $("code").value = code;
  pageEditor?.setCode(code);
}

export function focusEditor() {
  pageEditor?.focus();
}

export function rangeAt(line, col) {
  return pageEditor ? pageEditor.rangeAt(line, col) : null;
}

export function markProblems(diagnostics, lines) {
  pageEditor?.markProblems(diagnostics, lines);
}

export function jumpTo(line, col) {
  pageEditor?.jumpTo(line, col);
}
