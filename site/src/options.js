// The options panel: reading and writing the options sent to /_/run, with Skia Fiddle's rules
// (F16 needs sRGB, a still fiddle has no duration) and the one-line summary in its <summary>.

import { $ } from "./dom.js";
import { selectedSource, selectSource } from "./sources.js";

// The options as sent to /_/run, with their defaults.
export const DEFAULT_OPTIONS = {
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
const INTEGERS = ["width", "height", "source", "offscreen_width", "offscreen_height", "offscreen_sample_count"];
// The options that only mean something for an offscreen target.
const OFFSCREEN = [
  "offscreen_width",
  "offscreen_height",
  "offscreen_sample_count",
  "offscreen_texturable",
  "offscreen_mipmap",
];

const optionsBox = () => $("options");

// The form control of an option (or of another field of the options box), if any.
export function field(name) {
  return optionsBox().elements.namedItem(name);
}

function readOne(name, fallback) {
  const input = field(name);
  if (name === "source") return selectedSource();
  if (!input) return fallback;
  return typeof fallback === "boolean" ? input.checked : Number(input.value);
}

export function readOptions() {
  const options = {};
  for (const [name, fallback] of Object.entries(DEFAULT_OPTIONS)) options[name] = readOne(name, fallback);
  if (!options.srgb) options.f16 = false;
  if (!options.animated) options.duration = 0;
  if (!options.source) options.source_mipmap = false;
  for (const name of INTEGERS) options[name] = Math.trunc(options[name]);
  return options;
}

function writeOne(name, value, options) {
  const input = field(name);
  if (!input) return;
  if (typeof DEFAULT_OPTIONS[name] === "boolean") input.checked = Boolean(value);
  // A still fiddle's duration (0) would not be a valid value: the field keeps its own.
  else if (name === "duration") input.value = options.animated ? String(value) : input.value || "1";
  else input.value = String(value);
}

export function writeOptions(given) {
  const options = { ...DEFAULT_OPTIONS, ...given };
  for (const [name, value] of Object.entries(options)) {
    if (name === "source") selectSource(Number(value) || 0);
    else writeOne(name, value, options);
  }
  syncOptions();
}

// Disables what the other options make meaningless, and updates the summary.
export function syncOptions() {
  const on = (name) => field(name).checked;
  field("f16").disabled = !on("srgb");
  if (!on("srgb")) field("f16").checked = false;
  field("duration").disabled = !on("animated");
  for (const name of OFFSCREEN) field(name).disabled = !on("offscreen");
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

// Clears the invalid marks that a refused run left on the options.
export function clearInvalidOptions() {
  for (const input of optionsBox().querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// Enables the panel (disabled in the markup, so that without JavaScript it only shows).
export function startOptions() {
  const box = optionsBox();
  box.disabled = false;
  syncOptions();
  box.addEventListener("change", syncOptions);
  box.addEventListener("input", (event) => {
    event.target.removeAttribute("aria-invalid");
    $("options-summary").textContent = summarize(readOptions());
  });
}
