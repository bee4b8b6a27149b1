// Naming the fiddle on screen (signed in): the share panel's form, posted to POST /_/name.

import { postName } from "./api.js";
import { $, element } from "./dom.js";
import { currentState } from "./state.js";

const NAME = /^[0-9A-Za-z_]{1,128}$/;

// The form's status line, with the named fiddle's link after `text` when there is one.
export function setNameStatus(text, kind = "", link = null) {
  const status = $("name-status");
  if (!status) return;
  status.replaceChildren(text, ...(link ? [element("a", { href: link }, `${location.origin}${link}`)] : []));
  status.dataset.kind = kind;
}

// Says why `name` cannot be saved (yet), if it cannot; true then.
function refused(input, name) {
  if (!currentState().hash) {
    setNameStatus("Run the fiddle first: only a stored fiddle can be named.", "error");
    return true;
  }
  if (NAME.test(name)) return false;
  input.setAttribute("aria-invalid", "true");
  setNameStatus("Names are 1 to 128 letters, digits and underscores.", "error");
  input.focus();
  return true;
}

async function saveName(input, name) {
  const { response, body } = await postName(name, currentState().hash, $("name-overwrite").checked);
  if (!response.ok) {
    if (response.status === 400) input.setAttribute("aria-invalid", "true");
    setNameStatus(body.error || `Naming failed (HTTP ${response.status}).`, "error");
    return;
  }
  setNameStatus("Named: ", "ok", `/c/@${body.name}`);
}

async function nameFiddle(event) {
  event.preventDefault();
  const input = $("name-input");
  const name = input.value.trim();
  input.removeAttribute("aria-invalid");
  if (refused(input, name)) return;
  const button = $("name-submit");
  button.disabled = true;
  setNameStatus("Saving the name…", "busy");
  try {
    await saveName(input, name);
  } catch (error) {
    setNameStatus(`The service did not answer: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// Enables the form; the page has it only for a signed-in visitor.
export function startNaming() {
  if (!$("name-form")) return;
  $("name-fields").disabled = false;
  $("name-form").addEventListener("submit", nameFiddle);
}
