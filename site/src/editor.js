// The editor page (`/` and `/c/<hash>`): turns the server-rendered page into the editor.
//
// It talks only to the JSON endpoints (POST /_/run, GET /e/<hash>, outputs under /i/ and /ai/; for
// signed-in visitors POST /_/name and POST /_/upload; the source picker's GET /_/sources and /s/)
// at the address in <meta name="fiddle-api"> (empty: this origin), so the same page works when
// site/ is served as plain files. Bundled by esbuild into site/dist/editor.js (`npm run build`).
// Requests that change something carry the session's CSRF token from <meta name="csrf-token">,
// which the page has only when someone is signed in.
//
// The editor lives in a shadow root: CodeMirror injects its styles at run time, and in a shadow
// root it does so with constructed style sheets, which the pages' Content-Security-Policy (no
// inline styles) allows; in the document itself it would need an inline <style>.

import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
} from "@codemirror/autocomplete";
import { defaultKeymap, history as undoHistory, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import {
  bracketMatching,
  foldGutter,
  foldKeymap,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { lintGutter, lintKeymap, setDiagnostics } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { EditorState, Prec, RangeSetBuilder, StateEffect, StateField } from "@codemirror/state";
import {
  Decoration,
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { tags as t } from "@lezer/highlight";

const $ = (id) => document.getElementById(id);
const API = (document.querySelector('meta[name="fiddle-api"]')?.content || "").replace(/\/+$/, "");
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
const EXAMPLES = new URL("../examples/", import.meta.url);

// The options as sent to /_/run, with their defaults (SPEC section 2).
const DEFAULT_OPTIONS = {
  width: 256,
  height: 256,
  source: 0,
  srgb: false,
  f16: false,
  textOnly: false,
  animated: false,
  duration: 0,
  offscreen: false,
  offscreen_width: 64,
  offscreen_height: 64,
  offscreen_sample_count: 1,
  offscreen_texturable: false,
  offscreen_mipmap: false,
  source_mipmap: false,
};

// --- the editor ------------------------------------------------------------------------------

const setErrorLines = StateEffect.define();

// Whole-line decorations for the lines with errors, on top of the lint underlines and gutter.
const errorLines = StateField.define({
  create: () => Decoration.none,
  update(lines, tr) {
    lines = lines.map(tr.changes);
    for (const effect of tr.effects) {
      if (effect.is(setErrorLines)) {
        const builder = new RangeSetBuilder();
        for (const number of [...new Set(effect.value)].sort((a, b) => a - b)) {
          if (number >= 1 && number <= tr.state.doc.lines) {
            const line = tr.state.doc.line(number);
            builder.add(line.from, line.from, Decoration.line({ class: "cm-error-line" }));
          }
        }
        lines = builder.finish();
      }
    }
    return lines;
  },
  provide: (field) => EditorView.decorations.from(field),
});

// Colours come from CSS custom properties set by site/style.css, so both themes apply.
const highlight = HighlightStyle.define([
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

const theme = EditorView.theme({
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

function createEditor(host, code, onRun) {
  const shadow = host.attachShadow({ mode: "open" });
  const view = new EditorView({
    parent: shadow,
    state: EditorState.create({
      doc: code,
      extensions: [
        Prec.highest(
          keymap.of([
            { key: "Mod-Enter", run: () => (onRun(), true) },
          ]),
        ),
        lineNumbers(),
        highlightActiveLineGutter(),
        foldGutter(),
        lintGutter(),
        highlightSpecialChars(),
        undoHistory(),
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
        python(),
        errorLines,
        theme,
        EditorView.contentAttributes.of({
          "aria-label": "Code",
          "aria-describedby": "keyboard-hint",
          spellcheck: "false",
          autocapitalize: "off",
          autocorrect: "off",
        }),
        keymap.of([
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...searchKeymap,
          ...historyKeymap,
          ...foldKeymap,
          ...completionKeymap,
          ...lintKeymap,
          indentWithTab,
        ]),
      ],
    }),
  });
  return view;
}

// --- page state ------------------------------------------------------------------------------

const form = $("fiddle-form");
const optionsBox = $("options");
const runButton = $("run");
const status = $("status");
const results = $("results");
let view = null;
let running = false;
let current = { hash: $("fiddle-hash")?.textContent.trim() || null };

function api(path) {
  return API + path;
}

function pageUrl(hash) {
  return `${location.origin}/c/${hash}`;
}

function setStatus(text, kind = "") {
  status.textContent = text;
  status.dataset.kind = kind;
}

function getCode() {
  return view ? view.state.doc.toString() : $("code").value;
}

function setCode(code) {
  $("code").value = code;
  if (view) {
    view.dispatch({
      changes: { from: 0, to: view.state.doc.length, insert: code },
      selection: { anchor: 0 },
      effects: [setErrorLines.of([])],
    });
    view.dispatch(setDiagnostics(view.state, []));
  }
}

// --- options ---------------------------------------------------------------------------------

function field(name) {
  return optionsBox.elements.namedItem(name);
}

function readOptions() {
  const options = {};
  for (const [name, fallback] of Object.entries(DEFAULT_OPTIONS)) {
    const input = field(name);
    if (name === "source") options.source = selectedSource();
    else if (!input) options[name] = fallback;
    else if (typeof fallback === "boolean") options[name] = input.checked;
    else options[name] = Number(input.value);
  }
  // Skia Fiddle's rules (SPEC section 2): F16 needs sRGB; a still fiddle has no duration.
  if (!options.srgb) options.f16 = false;
  if (!options.animated) options.duration = 0;
  if (!options.source) options.source_mipmap = false;
  for (const name of ["width", "height", "source", "offscreen_width", "offscreen_height", "offscreen_sample_count"]) {
    options[name] = Math.trunc(options[name]);
  }
  return options;
}

function writeOptions(given) {
  const options = { ...DEFAULT_OPTIONS, ...given };
  for (const [name, value] of Object.entries(options)) {
    if (name === "source") {
      selectSource(Number(value) || 0);
      continue;
    }
    const input = field(name);
    if (!input) continue;
    if (typeof DEFAULT_OPTIONS[name] === "boolean") input.checked = Boolean(value);
    else if (name === "duration") input.value = options.animated ? String(value) : input.value || "1";
    else input.value = String(value);
  }
  syncOptions();
}

// --- the source picker -----------------------------------------------------------------------
//
// A radio group of thumbnails (native radios: arrow keys move between them). The server renders
// "None" and the fiddle's own source; GET /_/sources fills in the rest. Signed-in visitors upload
// with POST /_/upload, and the new image is chosen.

let sourceIds = null; // every source image, from GET /_/sources; null until it answers
// Sources the server said were deleted (the page of a fiddle whose image an admin removed).
const removedSources = new Set(
  [...document.querySelectorAll("#source-list .source-gone")].map((gone) =>
    Number(gone.closest("label").querySelector("input").value),
  ),
);

function sourceInputs() {
  return [...optionsBox.querySelectorAll('input[name="source"]')];
}

function selectedSource() {
  return Number(sourceInputs().find((input) => input.checked)?.value || 0);
}

function sourceChoice(id, removed) {
  const input = element("input", { type: "radio", name: "source", value: String(id) });
  let thumb;
  if (id && !removed) {
    thumb = element("img", { class: "source-thumb", src: api(`/s/${id}?size=64`), alt: "", loading: "lazy" });
    thumb.width = 64;
    thumb.height = 64;
  } else {
    thumb = element("span", { class: "source-thumb source-none", "aria-hidden": "true" });
  }
  const name = element(
    "span",
    { class: "source-name" },
    id ? `Image ${id}` : "None",
    removed ? " " : null,
    removed ? element("span", { class: "source-gone" }, "(removed)") : null,
  );
  return element("li", {}, element("label", { class: "source-choice" }, input, thumb, name));
}

function renderSources(selected) {
  const shown = sourceInputs().map((input) => Number(input.value)).filter(Boolean);
  const ids = new Set(sourceIds ?? shown);
  if (selected) ids.add(selected);
  const isRemoved = (id) => removedSources.has(id) || (sourceIds !== null && !sourceIds.includes(id));
  const choices = [0, ...[...ids].sort((a, b) => a - b)].map((id) => sourceChoice(id, id !== 0 && isRemoved(id)));
  $("source-list").replaceChildren(...choices);
  for (const input of sourceInputs()) input.checked = Number(input.value) === selected;
}

function selectSource(id) {
  const input = sourceInputs().find((candidate) => Number(candidate.value) === id);
  if (input) input.checked = true;
  else renderSources(id);
}

async function refreshSources() {
  const { response, body } = await fetchJson(api("/_/sources"));
  if (!response.ok || !Array.isArray(body.sources)) throw new Error(body.error || `HTTP ${response.status}`);
  sourceIds = body.sources.map((source) => Number(source.id));
  renderSources(selectedSource());
}

function setSourceStatus(text, kind = "") {
  $("source-status").textContent = text;
  $("source-status").dataset.kind = kind;
}

async function uploadSource(input) {
  const file = input.files?.[0];
  if (!file) return;
  setSourceStatus(`Uploading ${file.name}…`, "busy");
  input.disabled = true;
  try {
    const data = new FormData();
    data.append("upload", file);
    const { response, body } = await fetchJson(api("/_/upload"), {
      method: "POST",
      headers: { "X-CSRF-Token": CSRF },
      body: data,
    });
    if (!response.ok) {
      setSourceStatus(body.error || `The upload failed (HTTP ${response.status}).`, "error");
      return;
    }
    await refreshSources().catch(() => {});
    selectSource(Number(body.id));
    syncOptions();
    setSourceStatus(`Uploaded image ${body.id} and chose it as the source.`, "ok");
  } catch (error) {
    setSourceStatus(`The upload failed: ${error.message}`, "error");
  } finally {
    input.disabled = false;
    input.value = "";
  }
}

function syncOptions() {
  const on = (name) => field(name).checked;
  field("f16").disabled = !on("srgb");
  if (!on("srgb")) field("f16").checked = false;
  field("duration").disabled = !on("animated");
  for (const name of ["offscreen_width", "offscreen_height", "offscreen_sample_count", "offscreen_texturable", "offscreen_mipmap"]) {
    field(name).disabled = !on("offscreen");
  }
  field("source_mipmap").disabled = selectedSource() === 0;
  $("options-summary").textContent = summarize(readOptions());
}

function summarize(o) {
  const parts = [`${o.width} × ${o.height}`];
  if (o.srgb) parts.push("sRGB");
  if (o.f16) parts.push("F16");
  if (o.textOnly) parts.push("text only");
  if (o.animated) parts.push(`animated ${o.duration} s`);
  if (o.offscreen) parts.push("offscreen");
  if (o.source) parts.push(`source ${o.source}`);
  return parts.join(" · ");
}

// --- problems (compile and runtime errors) ----------------------------------------------------

function runtimeLine(traceback) {
  const lines = [...traceback.matchAll(/File "draw\.py", line (\d+)/g)];
  return lines.length ? Number(lines[lines.length - 1][1]) : null;
}

function showProblems({ compileErrors = [], runtimeError = "", requestError = null }) {
  const list = $("problem-list");
  list.replaceChildren();
  const diagnostics = [];
  const lines = [];
  const doc = view?.state.doc;

  const place = (line, col) => {
    if (!doc || !line || line < 1 || line > doc.lines) return null;
    const at = doc.line(line);
    const from = Math.min(at.from + Math.max((col || 1) - 1, 0), at.to);
    return { from, to: col ? Math.min(from + 1, at.to) : at.to, line: at };
  };

  for (const error of compileErrors) {
    const range = place(error.line, error.col);
    if (range) {
      lines.push(error.line);
      diagnostics.push({ from: range.from, to: range.to, severity: "error", message: error.text, source: "compile" });
    }
    const where = error.col ? `Line ${error.line}, column ${error.col}` : `Line ${error.line}`;
    list.append(problemItem(where, error.text, error.line, error.col));
  }
  if (runtimeError) {
    const line = runtimeLine(runtimeError);
    const where = place(line, 0);
    if (where) {
      lines.push(line);
      const message = runtimeError.trim().split("\n").pop();
      diagnostics.push({ from: where.from, to: where.to, severity: "error", message, source: "runtime" });
    }
    list.append(problemItem(line ? `Line ${line}` : "Runtime error", runtimeError, line, 1, true));
  }
  if (requestError) {
    const item = document.createElement("li");
    item.className = "problem";
    const message = document.createElement("p");
    message.textContent = requestError.error;
    item.append(message);
    for (const [name, reasons] of Object.entries(requestError.fields || {})) {
      const detail = document.createElement("p");
      detail.className = "problem-detail";
      detail.textContent = `${name}: ${reasons.join("; ")}`;
      item.append(detail);
      const input = field(name.replace(/^options\./, ""));
      if (input instanceof Element) input.setAttribute("aria-invalid", "true");
    }
    list.append(item);
  }
  $("problems").hidden = list.children.length === 0;
  if (view) {
    view.dispatch(setDiagnostics(view.state, diagnostics));
    view.dispatch({ effects: setErrorLines.of(lines) });
  }
}

function problemItem(where, text, line, col, traceback = false) {
  const item = document.createElement("li");
  item.className = "problem";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "problem-jump";
  const place = document.createElement("span");
  place.className = "problem-where";
  place.textContent = where;
  button.append(place);
  if (!traceback) {
    const message = document.createElement("span");
    message.className = "problem-text";
    message.textContent = text;
    button.append(message);
  } else {
    const message = document.createElement("span");
    message.className = "problem-text";
    message.textContent = text.trim().split("\n").pop();
    button.append(message);
  }
  if (line) {
    button.dataset.line = String(line);
    button.dataset.col = String(col || 1);
    button.setAttribute("aria-label", `${where}: ${button.lastChild.textContent}. Move the cursor there.`);
  } else {
    button.disabled = true;
  }
  item.append(button);
  if (traceback) {
    const details = document.createElement("pre");
    details.className = "traceback";
    details.textContent = text;
    item.append(details);
  }
  return item;
}

function jumpTo(line, col) {
  if (!view) return;
  const doc = view.state.doc;
  const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
  const pos = Math.min(at.from + Math.max(col - 1, 0), at.to);
  view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
  view.focus();
}

// --- results ---------------------------------------------------------------------------------

const OUTPUTS = [
  ["cpu.png", "PNG", "_raster.png"],
  ["pdf.pdf", "PDF", ".pdf"],
  ["skp.skp", "SKP", ".skp"],
  ["txt.txt", "Text", ".txt"],
];

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function renderResults(fiddle, answer) {
  const nodes = [];
  const o = fiddle.options;
  const urls = fiddle.outputs || {};
  if (!fiddle.runid && fiddle.sourceRemoved) {
    // The notices say why: the outputs were deleted with the source image.
  } else if (!fiddle.runid) {
    const failed = answer && (answer.compile_errors?.length || answer.runtime_error);
    nodes.push(
      element(
        "p",
        { class: "notice", "data-kind": "no-run" },
        failed
          ? "No output: the fiddle failed. The problems are listed under the editor."
          : "This fiddle has no stored result: it failed to compile or raised an error when it last ran.",
      ),
    );
  } else {
    if (urls["cpu.png"]) {
      const img = element("img", {
        class: "output-image",
        src: api(urls["cpu.png"]),
        alt: `Raster output of the fiddle, ${o.width} by ${o.height} pixels`,
      });
      img.width = o.width;
      img.height = o.height;
      nodes.push(
        element(
          "figure",
          { class: "raster" },
          element("div", { class: "canvas-scroll" }, img),
          element("figcaption", {}, `Raster, ${o.width} × ${o.height} px`),
        ),
      );
    }
    if (fiddle.text) {
      nodes.push(
        element(
          "section",
          { class: "printed", "aria-label": "Printed text" },
          element("h3", {}, "Printed text"),
          element("pre", { class: "text-output" }, fiddle.text),
        ),
      );
    }
    if (urls["pdf.pdf"]) {
      const object = element(
        "object",
        { class: "pdf-view", data: api(urls["pdf.pdf"]), type: "application/pdf", "aria-label": "PDF output of the fiddle" },
        element("p", {}, element("a", { href: api(urls["pdf.pdf"]) }, "Open the PDF")),
      );
      object.width = String(Math.max(o.width, 320));
      object.height = String(Math.max(o.height + 40, 240));
      nodes.push(element("details", { class: "pdf" }, element("summary", {}, "PDF"), object));
    }
    const downloads = element("ul", { class: "downloads", "aria-label": "Downloads" });
    for (const [output, label, suffix] of OUTPUTS) {
      if (!urls[output]) continue;
      downloads.append(
        element(
          "li",
          {},
          element(
            "a",
            { class: "button-link", href: api(urls[output]), download: `${fiddle.fiddleHash}${suffix}` },
            label,
            element("span", { class: "visually-hidden" }, " download"),
          ),
        ),
      );
    }
    nodes.push(downloads);
    nodes.push(element("p", { class: "runid" }, "Rendered with Skia build ", element("code", {}, fiddle.runid), "."));
  }
  if (fiddle.notices?.length) {
    nodes.push(element("ul", { class: "notices" }, ...fiddle.notices.map((n) => element("li", { class: "notice" }, n))));
  }
  results.replaceChildren(...nodes);
  applyZoom();
}

function renderEmpty() {
  results.replaceChildren(element("p", { class: "notice", "data-kind": "empty" }, "Run the fiddle to see what it draws."));
}

function applyZoom() {
  $("zoom-control").hidden = !results.querySelector("img.output-image");
  const zoom = $("zoom").value;
  results.classList.toggle("zoom-fit", zoom === "fit");
  for (const img of results.querySelectorAll("img.output-image")) {
    const natural = { w: Number(img.getAttribute("width")), h: Number(img.getAttribute("height")) };
    img.dataset.w ||= String(natural.w);
    img.dataset.h ||= String(natural.h);
    const scale = zoom === "fit" ? 1 : Number(zoom);
    img.width = Number(img.dataset.w) * scale;
    img.height = Number(img.dataset.h) * scale;
  }
}

function updateShare(hash, options) {
  const heading = $("fiddle-heading");
  const code = $("fiddle-hash");
  $("share").hidden = !hash;
  if (!hash) {
    heading.firstChild.textContent = "New fiddle ";
    code.hidden = true;
    document.title = "New fiddle · Skia Fiddle for Python";
    return;
  }
  if (hash !== code.textContent) setNameStatus("");
  const signin = $("name-signin");
  if (signin) signin.href = `/signin?next=${encodeURIComponent(`/c/${hash}`)}`;
  heading.firstChild.textContent = "Fiddle ";
  code.hidden = false;
  code.textContent = hash;
  document.title = `Fiddle ${hash} · Skia Fiddle for Python`;
  $("share-link").value = pageUrl(hash);
  $("share-embed").value =
    `<iframe src="${location.origin}/iframe/${hash}" width="${options.width + 20}" height="${options.height + 60}" ` +
    `title="Skia fiddle ${hash}" loading="lazy"></iframe>`;
}

// --- talking to the API ----------------------------------------------------------------------

async function fetchJson(url, init) {
  const response = await fetch(url, { ...init, headers: { Accept: "application/json", ...(init?.headers || {}) } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { error: `The service answered HTTP ${response.status}.` };
  }
  return { response, body };
}

async function loadFiddle(hash) {
  const { response, body } = await fetchJson(api(`/e/${hash}`));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function run() {
  if (running) return;
  for (const input of optionsBox.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  if (!form.checkValidity()) {
    $("options-panel").open = true;
    form.reportValidity();
    setStatus("Some options are not valid.", "error");
    return;
  }
  running = true;
  runButton.setAttribute("aria-busy", "true");
  form.classList.add("is-running");
  setStatus("Running…", "busy");
  const options = readOptions();
  const started = performance.now();
  try {
    const { response, body } = await fetchJson(api("/_/run"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: getCode(), options }),
    });
    const seconds = (performance.now() - started) / 1000;
    if (!response.ok) {
      showProblems({ requestError: body });
      setStatus(response.status === 400 ? "The service refused the fiddle." : body.error, "error");
      return;
    }
    const answer = {
      compile_errors: body.compile_errors || [],
      runtime_error: body.runtime_error || "",
      cached: body.cached,
      seconds,
    };
    showProblems({ compileErrors: answer.compile_errors, runtimeError: answer.runtime_error });
    const fiddle = await loadFiddle(body.fiddleHash);
    renderResults(fiddle, answer);
    updateShare(body.fiddleHash, fiddle.options);
    const failed = answer.compile_errors.length > 0 || Boolean(answer.runtime_error);
    setStatus(describeRun(answer), failed ? "error" : "ok");
    const state = { hash: body.fiddleHash, answer };
    if (body.fiddleHash !== current.hash) window.history.pushState(state, "", `/c/${body.fiddleHash}`);
    else window.history.replaceState(state, "", `/c/${body.fiddleHash}`);
    current = state;
  } catch (error) {
    setStatus(`The service did not answer: ${error.message}`, "error");
  } finally {
    running = false;
    runButton.removeAttribute("aria-busy");
    form.classList.remove("is-running");
  }
}

function describeRun(answer) {
  const time = answer.seconds < 1 ? `${Math.round(answer.seconds * 1000)} ms` : `${answer.seconds.toFixed(2)} s`;
  const errors = answer.compile_errors.length;
  if (errors) return `${errors === 1 ? "1 compile error" : `${errors} compile errors`} (${time}).`;
  if (answer.runtime_error) return `The fiddle raised an error (${time}).`;
  return answer.cached ? `Done in ${time}, from storage.` : `Ran in ${time}.`;
}

// --- naming (signed in) ----------------------------------------------------------------------

function setNameStatus(text, kind = "", link = null) {
  const status = $("name-status");
  if (!status) return;
  status.replaceChildren(text, ...(link ? [element("a", { href: link }, `${location.origin}${link}`)] : []));
  status.dataset.kind = kind;
}

async function nameFiddle(event) {
  event.preventDefault();
  const input = $("name-input");
  const name = input.value.trim();
  input.removeAttribute("aria-invalid");
  if (!current.hash) {
    setNameStatus("Run the fiddle first: only a stored fiddle can be named.", "error");
    return;
  }
  if (!/^[0-9A-Za-z_]{1,128}$/.test(name)) {
    input.setAttribute("aria-invalid", "true");
    setNameStatus("Names are 1 to 128 letters, digits and underscores.", "error");
    input.focus();
    return;
  }
  const button = $("name-submit");
  button.disabled = true;
  setNameStatus("Saving the name…", "busy");
  try {
    const { response, body } = await fetchJson(api("/_/name"), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
      body: JSON.stringify({ name, hash: current.hash, overwrite: $("name-overwrite").checked }),
    });
    if (!response.ok) {
      if (response.status === 400) input.setAttribute("aria-invalid", "true");
      setNameStatus(body.error || `Naming failed (HTTP ${response.status}).`, "error");
      return;
    }
    setNameStatus("Named: ", "ok", `/c/@${body.name}`);
  } catch (error) {
    setNameStatus(`The service did not answer: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// --- history ---------------------------------------------------------------------------------

async function showState(state) {
  current = state || { hash: null };
  if (!state?.hash) {
    setCode(state?.code ?? $("code").defaultValue);
    writeOptions(state?.options || DEFAULT_OPTIONS);
    showProblems({});
    renderEmpty();
    updateShare(null);
    setStatus("");
    return;
  }
  setStatus("Loading…", "busy");
  try {
    const fiddle = await loadFiddle(state.hash);
    if (current !== state) return; // another Back or Forward came first
    setCode(fiddle.code);
    writeOptions(fiddle.options);
    const answer = state.answer;
    showProblems(answer ? { compileErrors: answer.compile_errors, runtimeError: answer.runtime_error } : {});
    renderResults(fiddle, answer);
    updateShare(state.hash, fiddle.options);
    setStatus(answer ? describeRun(answer) : "", answer && (answer.compile_errors.length || answer.runtime_error) ? "error" : "ok");
  } catch (error) {
    setStatus(`Could not load fiddle ${state.hash}: ${error.message}`, "error");
  }
}

// --- examples --------------------------------------------------------------------------------

async function loadExamples() {
  const menu = $("examples");
  let index;
  try {
    const response = await fetch(new URL("index.json", EXAMPLES));
    if (!response.ok) return;
    index = await response.json();
  } catch {
    return;
  }
  const list = $("example-list");
  for (const example of index.examples) {
    const button = element(
      "button",
      { type: "button", class: "example", "data-file": example.file },
      element("span", { class: "example-title" }, example.title),
      element("span", { class: "example-text" }, example.description),
    );
    button.addEventListener("click", () => openExample(example, menu));
    list.append(element("li", {}, button));
  }
  menu.hidden = false;
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
}

async function openExample(example, menu) {
  menu.open = false;
  setStatus(`Loading the example “${example.title}”…`, "busy");
  try {
    const response = await fetch(new URL(example.file, EXAMPLES));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    setCode(await response.text());
    writeOptions(example.options || {});
    showProblems({});
    view?.focus();
    await run();
  } catch (error) {
    setStatus(`Could not load the example: ${error.message}`, "error");
  }
}

// --- copying ---------------------------------------------------------------------------------

async function copyFrom(button) {
  const source = $(button.dataset.copy);
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.value);
  } catch {
    source.focus();
    source.select();
    document.execCommand("copy");
  }
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = label), 1500);
}

// --- start -----------------------------------------------------------------------------------

function start() {
  const textarea = $("code");
  const host = $("editor");
  view = createEditor(host, textarea.value, () => form.requestSubmit());
  textarea.hidden = true;
  host.hidden = false;
  // The <label> named the fallback textarea; the editor's content carries its own name ("Code").
  $("code-label").removeAttribute("for");
  $("code-label").addEventListener("click", () => view.focus());
  $("keyboard-hint").hidden = false;

  optionsBox.disabled = false;
  runButton.disabled = false;
  syncOptions();
  optionsBox.addEventListener("change", syncOptions);
  optionsBox.addEventListener("input", (event) => {
    event.target.removeAttribute("aria-invalid");
    $("options-summary").textContent = summarize(readOptions());
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  // Ctrl/Cmd+Enter runs from anywhere on the page, not only from the editor.
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("problem-list").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-line]");
    if (button) jumpTo(Number(button.dataset.line), Number(button.dataset.col));
  });
  $("zoom").addEventListener("change", applyZoom);
  $("source-upload")?.addEventListener("change", (event) => uploadSource(event.target));
  refreshSources().catch(() => setSourceStatus("The list of source images could not be loaded.", "error"));
  if ($("name-form")) {
    $("name-fields").disabled = false;
    $("name-form").addEventListener("submit", nameFiddle);
  }
  applyZoom();
  for (const button of document.querySelectorAll("button.copy")) {
    button.hidden = false;
    button.addEventListener("click", () => copyFrom(button));
  }

  // A plain-file copy of the page (site/ behind a CDN that maps /c/* to it) has no fiddle in its
  // markup: the address says which one to load from the API.
  const addressed = location.pathname.match(/\/c\/([0-9a-f]{32})$/);
  const initial = current.hash
    ? { hash: current.hash }
    : addressed
      ? { hash: addressed[1] }
      : { hash: null, code: textarea.value, options: readOptions() };
  window.history.replaceState(initial, "", location.href);
  current = initial;
  if (!$("fiddle-hash").textContent.trim() && initial.hash) showState(initial);
  window.addEventListener("popstate", (event) => showState(event.state));
  loadExamples();
  document.documentElement.classList.add("editor-ready");
}

start();
