// The editor's look: token colours and the CodeMirror theme. Colours come from CSS custom
// properties set by site/style.css, so both the light and the dark theme apply.

import { HighlightStyle } from "@codemirror/language";
import { EditorView } from "@codemirror/view";
import { tags as t } from "@lezer/highlight";

export const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.definitionKeyword, t.moduleKeyword], color: "var(--tok-keyword)" },
  { tag: [t.string, t.special(t.string)], color: "var(--tok-string)" },
  { tag: [t.number, t.bool, t.null], color: "var(--tok-number)" },
  { tag: t.comment, color: "var(--tok-comment)", fontStyle: "italic" },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: "var(--tok-function)" },
  { tag: [t.definition(t.variableName), t.definition(t.function(t.variableName))], color: "var(--tok-definition)" },
  { tag: [t.className, t.definition(t.className)], color: "var(--tok-class)" },
  { tag: [t.operator, t.punctuation, t.bracket], color: "var(--tok-punctuation)" },
  { tag: t.self, color: "var(--tok-keyword)" },
  { tag: t.invalid, color: "var(--danger)" },
]);

export const theme = EditorView.theme({
  "&": {
    color: "var(--fg)",
    backgroundColor: "var(--code-bg)",
    border: "1px solid var(--border)",
    borderRadius: "8px",
    fontSize: "var(--code-size, 14px)",
  },
  "&.cm-focused": { outline: "3px solid var(--focus)", outlineOffset: "1px" },
  ".cm-scroller": {
    fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace",
    lineHeight: "1.5",
    maxHeight: "70vh",
    overflow: "auto",
  },
  ".cm-content, .cm-gutter": { minHeight: "16rem" },
  ".cm-content": { caretColor: "var(--fg)", padding: "8px 0" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--fg)", borderLeftWidth: "2px" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, ::selection":
    { backgroundColor: "var(--selection)" },
  ".cm-gutters": {
    backgroundColor: "var(--gutter-bg)",
    color: "var(--muted)",
    borderRight: "1px solid var(--border)",
    borderRadius: "8px 0 0 8px",
  },
  ".cm-activeLine": { backgroundColor: "var(--active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--active-line)", color: "var(--fg)" },
  "&.cm-focused .cm-matchingBracket": { backgroundColor: "var(--bracket)", outline: "1px solid var(--muted)" },
  "&.cm-focused .cm-nonmatchingBracket": { backgroundColor: "var(--danger-bg)" },
  ".cm-error-line": { backgroundColor: "var(--danger-bg)" },
  ".cm-lintRange-error": { textDecoration: "underline wavy var(--danger)", backgroundImage: "none" },
  ".cm-tooltip": {
    backgroundColor: "var(--surface)",
    color: "var(--fg)",
    border: "1px solid var(--border)",
    borderRadius: "6px",
  },
  ".cm-tooltip-autocomplete ul li[aria-selected]": { backgroundColor: "var(--accent)", color: "var(--on-accent)" },
  ".cm-diagnostic-error": { borderLeftColor: "var(--danger)" },
  ".cm-panels": { backgroundColor: "var(--surface)", color: "var(--fg)" },
  ".cm-foldPlaceholder": { backgroundColor: "var(--surface)", border: "1px solid var(--border)", color: "var(--muted)" },
  ".cm-textfield, .cm-button": { font: "inherit", color: "var(--fg)", backgroundColor: "var(--code-bg)" },
});
