// Whole-line marks on the lines with errors, on top of the lint underlines and gutter markers.

import { RangeSetBuilder, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView } from "@codemirror/view";

// Replaces the marked lines with the given line numbers (1-based; out of range ones are skipped).
export const setErrorLines = StateEffect.define();

function lineMarks(numbers, doc) {
  const builder = new RangeSetBuilder();
  for (const number of [...new Set(numbers)].sort((a, b) => a - b)) {
    if (number >= 1 && number <= doc.lines) {
      const line = doc.line(number);
      builder.add(line.from, line.from, Decoration.line({ class: "cm-error-line" }));
    }
  }
  return builder.finish();
}

export const errorLines = StateField.define({
  create: () => Decoration.none,
  update(lines, tr) {
    lines = lines.map(tr.changes);
    for (const effect of tr.effects) {
      if (effect.is(setErrorLines)) lines = lineMarks(effect.value, tr.state.doc);
    }
    return lines;
  },
  provide: (field) => EditorView.decorations.from(field),
});
