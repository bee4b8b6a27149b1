// <fiddle-embed hash="…"> (or name="…"): a stored fiddle's code in a compact editor with Run and
// its result, for documentation pages on any site (embedWidget.js does the work).
//
// Attributes: `hash` or `name` (a named fiddle, without the @); `api`, the service's address
// (default: where this script was loaded from); `height`, the code area's height in CSS pixels
// (default: as tall as the code, up to 16 lines or so); `theme`, "light" or "dark" (default: the
// visitor's system). Its shadow root has its own style sheet: nothing of the host page's styles
// gets in but what the host element itself inherits, which the sheet resets.

import { apiClient } from "./api.js";
import css from "./embed.css";
import { EmbedWidget } from "./embedWidget.js";

const HASH = /^[0-9a-f]{32}$/;
const NAME = /^[0-9A-Za-z_]{1,128}$/;
// The service this script came from: the API's address unless `api` says otherwise.
const SCRIPT_ORIGIN = new URL(import.meta.url).origin;

let sheet = null;

// One constructed style sheet for every embed on the page (the host page's Content-Security-
// Policy, which may forbid <style>, does not apply to it).
function styleSheet() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
  }
  return sheet;
}

// The API's address from the `api` attribute: an http(s) URL, without a trailing slash.
function apiBase(value) {
  if (value === null) return { base: SCRIPT_ORIGIN };
  let url = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (!url || !["http:", "https:"].includes(url.protocol)) {
    return { error: `The api attribute must be an http:// or https:// address, not “${value}”.` };
  }
  return { base: `${url.origin}${url.pathname}`.replace(/\/+$/, "") };
}

// The fiddle the attributes name, as the API refers to it: "<hash>" or "@<name>".
function fiddleReference(hash, name) {
  if (hash !== null && name !== null) return { error: "Give the fiddle's hash or its name, not both." };
  if (hash !== null) {
    const clean = hash.trim();
    if (HASH.test(clean)) return { reference: clean };
    return { error: `“${hash}” is not a fiddle's hash: that is 32 characters of 0-9 and a-f.` };
  }
  if (name !== null) {
    const clean = name.trim().replace(/^@/, "");
    if (NAME.test(clean)) return { reference: `@${clean}` };
    return { error: `“${name}” is not a fiddle's name: names are letters, digits and underscores.` };
  }
  return { error: 'Say which fiddle to show: <fiddle-embed hash="…"> or <fiddle-embed name="…">.' };
}

export class FiddleEmbed extends HTMLElement {
  static get observedAttributes() {
    return ["hash", "name", "api", "height"];
  }

  connectedCallback() {
    if (!this.widget) {
      this.widget = new EmbedWidget(this.attachShadow({ mode: "open" }), styleSheet());
      this.widget.setHeight(this.getAttribute("height"));
    }
    this.load();
  }

  attributeChangedCallback(attribute, old, value) {
    if (!this.widget || old === value) return;
    if (attribute === "height") this.widget.setHeight(value);
    else this.load();
  }

  // Loads the fiddle the attributes name, unless it is the one already shown.
  load() {
    const target = fiddleReference(this.getAttribute("hash"), this.getAttribute("name"));
    const api = apiBase(this.getAttribute("api"));
    const error = target.error || api.error;
    const key = error || `${api.base} ${target.reference}`;
    if (key === this.loaded) return;
    this.loaded = key;
    if (error) this.widget.fail(error);
    else this.widget.load(apiClient(api.base, "omit"), target.reference, api.base);
  }
}
