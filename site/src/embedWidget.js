// One interactive embed: a compact editor holding a stored fiddle's code, Run (and Ctrl/Cmd+Enter),
// the run's problems listed and marked on their lines, the results area as the server renders it
// (GET /e/<hash>/results), a link to the full editor and Reset. It lives in a shadow root of its
// own (<fiddle-embed>, embedElement.js) and talks only to the anonymous API, without cookies.
//
// A run stores a new fiddle, as any run does, and shows it here only: the embedded fiddle (the
// element's attributes, the iframe's address) stays what it was, and Reset returns to it.

import { compactFeatures, createEditor } from "./codeEditor.js";
import { element } from "./dom.js";
import { answerProblems, findProblems, jumpOnClick } from "./problemItems.js";
import { noteFailedRun, resultsFragment } from "./results.js";
import { describeRun, runFailed } from "./status.js";

const KEYS_HINT =
  "Ctrl+Enter (Cmd+Enter on a Mac) runs the fiddle. Tab leaves the editor; Ctrl+] and Ctrl+[ indent a line.";
// The code area's height attribute, in CSS pixels.
const HEIGHTS = { min: 48, max: 2000 };

function toolbar() {
  return element(
    "div",
    { class: "toolbar" },
    element("button", { type: "button", class: "run", hidden: true, "aria-keyshortcuts": "Control+Enter Meta+Enter" }, "Run"),
    element("span", { class: "shortcut", "aria-hidden": "true", hidden: true }, element("kbd", {}, "Ctrl"), "+", element("kbd", {}, "Enter")),
    element("button", { type: "button", class: "reset", hidden: true, disabled: true, "aria-label": "Reset to the original code" }, "Reset"),
    element("p", { class: "status", role: "status", "aria-live": "polite" }),
    element("a", { class: "open", target: "_blank", rel: "noopener", hidden: true }, "Open in the editor", element("span", { class: "visually-hidden" }, " (new tab)")),
  );
}

// The embed's markup; the <slot> shows the element's own content (the iframe's server-rendered
// code and result) until the fiddle is loaded.
function skeleton() {
  return element(
    "section",
    { class: "fiddle", "aria-label": "Skia fiddle" },
    element("div", { class: "fallback" }, element("slot")),
    element("div", { class: "code", hidden: true }),
    element("p", { class: "visually-hidden", id: "keys" }, KEYS_HINT),
    toolbar(),
    element("section", { class: "problems", "aria-label": "Problems", hidden: true }, element("ul", { class: "problem-list" })),
    element("section", { class: "results", "aria-label": "Result", hidden: true }),
  );
}

// The sentence for a fiddle that could not be loaded.
function loadError(reference, base, error) {
  if (error.status === 404) return `There is no fiddle “${reference}” at ${base}.`;
  return `The fiddle “${reference}” could not be loaded from ${base}: ${error.message}`;
}

export class EmbedWidget {
  constructor(shadow, sheet) {
    shadow.adoptedStyleSheets = [sheet];
    shadow.append(skeleton());
    const part = (name) => shadow.querySelector(`.${name}`);
    this.parts = {};
    for (const name of ["fiddle", "fallback", "code", "run", "shortcut", "reset", "status", "open", "problems", "results"]) {
      this.parts[name] = part(name);
    }
    this.list = part("problem-list");
    this.editor = null;
    this.original = null; // { reference, code, options, html } of the embedded fiddle
    this.shown = null; // the reference of the fiddle whose results are shown
    this.turn = 0; // each load, run and reset takes a turn; answers for an older one are dropped
    this.running = false;
    this.listen(shadow);
  }

  listen(shadow) {
    this.parts.run.addEventListener("click", () => this.run());
    this.parts.reset.addEventListener("click", () => this.reset());
    // Ctrl/Cmd+Enter runs from anywhere in the embed (the editor handles it first, itself).
    shadow.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
        event.preventDefault();
        this.run();
      }
    });
  }

  // The code area's height in CSS pixels (null or "": fits the code, up to a limit).
  setHeight(value) {
    const fiddle = this.parts.fiddle;
    fiddle.classList.toggle("sized", Boolean(value));
    if (!value) return;
    const pixels = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    const height = Math.min(Math.max(pixels, HEIGHTS.min), HEIGHTS.max);
    if (Number.isNaN(pixels) || height !== pixels) {
      console.warn(`fiddle-embed: height is a number of pixels from ${HEIGHTS.min} to ${HEIGHTS.max}, not “${value}”.`);
    }
    if (Number.isNaN(height)) fiddle.classList.remove("sized");
    else fiddle.style.setProperty("--code-height", `${height}px`);
  }

  setStatus(text, kind = "") {
    this.parts.status.textContent = text;
    this.parts.status.dataset.kind = kind;
  }

  // Shows only `message` (and the element's own content): no editor, no results.
  fail(message) {
    this.turn++;
    this.original = null;
    this.showParts(false);
    this.setStatus(message, "error");
  }

  showParts(loaded) {
    const { fallback, code, run, shortcut, reset, open, problems, results } = this.parts;
    for (const node of [code, run, shortcut, reset, open, results]) node.hidden = !loaded;
    if (!loaded) problems.hidden = true;
    fallback.hidden = loaded;
  }

  // Loads fiddle `reference` ("<hash>" or "@<name>") with `client` (apiClient of api.js), whose
  // address is `base`.
  async load(client, reference, base) {
    const turn = ++this.turn;
    this.client = client;
    this.base = base;
    this.parts.fiddle.setAttribute("aria-label", `Skia fiddle ${reference}`);
    this.setStatus(`Loading fiddle ${reference}…`, "busy");
    try {
      const [fiddle, html] = await Promise.all([client.loadFiddle(reference), client.loadResults(reference)]);
      if (turn !== this.turn) return;
      this.original = { reference, code: fiddle.code, options: fiddle.options, html };
      this.showOriginal();
      this.setStatus("");
    } catch (error) {
      if (turn === this.turn) this.fail(loadError(reference, base, error));
    }
  }

  mountEditor(code) {
    if (this.editor) return this.editor.setCode(code);
    this.editor = createEditor({
      parent: this.parts.code,
      doc: code,
      features: compactFeatures(),
      onRun: () => this.run(),
      attributes: { "aria-label": "Code", "aria-describedby": "keys" },
      onChange: () => this.updateReset(),
    });
    jumpOnClick(this.list, this.editor);
  }

  showOriginal() {
    const original = this.original;
    this.shown = original.reference;
    this.mountEditor(original.code);
    this.showProblems({});
    this.showResults(original.html, null, original.reference);
    this.showParts(true);
    this.updateReset();
  }

  // Reset is there to be pressed when the code or the result shown is not the original.
  updateReset() {
    const original = this.original;
    this.parts.reset.disabled = !original || (this.editor.code === original.code && this.shown === original.reference);
  }

  showProblems(problems) {
    const found = findProblems(problems, this.editor);
    this.list.replaceChildren(...found.items);
    this.parts.problems.hidden = found.items.length === 0;
    this.editor.markProblems(found.diagnostics, found.lines);
  }

  // The results markup of fiddle `reference`, for the run that gave `answer` (if any). Inline
  // viewers (<object>, in their disclosure) are left out: there is no room for them here, and
  // what they show stays among the downloads.
  showResults(html, answer, reference) {
    const fragment = resultsFragment(html, this.base);
    for (const viewer of fragment.querySelectorAll("object")) (viewer.closest("details") || viewer).remove();
    this.parts.results.replaceChildren(fragment);
    noteFailedRun(this.parts.results, answer);
    this.shown = reference;
    this.parts.open.href = `${this.base}/c/${reference}`;
  }

  setRunning(on) {
    this.running = on;
    if (on) this.parts.run.setAttribute("aria-busy", "true");
    else this.parts.run.removeAttribute("aria-busy");
    this.parts.fiddle.classList.toggle("is-running", on);
  }

  async run() {
    if (!this.original || this.running) return;
    const turn = ++this.turn;
    this.setRunning(true);
    this.setStatus("Running…", "busy");
    try {
      await this.runAndShow(turn);
    } catch (error) {
      if (turn === this.turn) this.setStatus(`The service did not answer: ${error.message}`, "error");
    } finally {
      this.setRunning(false);
    }
  }

  async runAndShow(turn) {
    const started = performance.now();
    const { response, body } = await this.client.postRun(this.editor.code, this.original.options);
    const seconds = (performance.now() - started) / 1000;
    if (turn !== this.turn) return;
    if (!response.ok) return this.showRefusal(response, body);
    const answer = {
      compile_errors: body.compile_errors || [],
      runtime_error: body.runtime_error || "",
      output_errors: body.output_errors || {},
      cached: body.cached,
      seconds,
    };
    const html = await this.client.loadResults(body.fiddleHash);
    if (turn !== this.turn) return;
    this.showProblems(answerProblems(answer));
    this.showResults(html, answer, body.fiddleHash);
    this.setStatus(describeRun(answer), runFailed(answer) ? "error" : "ok");
    this.updateReset();
  }

  showRefusal(response, body) {
    this.showProblems({ requestError: body });
    this.setStatus(response.status === 400 ? "The service refused the fiddle." : body.error, "error");
  }

  // Back to the embedded fiddle: its code, its results, no problems.
  reset() {
    if (!this.original) return;
    this.turn++;
    this.showOriginal();
    this.setStatus("Back to the original code.", "ok");
    this.editor.focus();
  }
}
