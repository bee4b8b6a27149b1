// Every request the editor makes. They go to the API at <meta name="fiddle-api"> (empty: this
// origin), so the same page works when site/ is served as plain files from another origin.
// Requests that change something carry the session's CSRF token from <meta name="csrf-token">,
// which the page has only when someone is signed in.

export const API = (document.querySelector('meta[name="fiddle-api"]')?.content || "").replace(/\/+$/, "");
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";

export function api(path) {
  return API + path;
}

// `{ response, body }`; a body that is not JSON becomes `{ error }` naming the HTTP status.
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

function postJson(path, payload, headers = {}) {
  return fetchJson(api(path), {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(payload),
  });
}

// POST /_/run: `{ response, body }`, body being the run's answer or the error.
export function postRun(code, options) {
  return postJson("/_/run", { code, options });
}

// POST /_/name (signed in).
export function postName(name, hash, overwrite) {
  return postJson("/_/name", { name, hash, overwrite }, { "X-CSRF-Token": CSRF });
}

// POST /_/upload (signed in): a new source image.
export function postUpload(file) {
  const data = new FormData();
  data.append("upload", file);
  return fetchJson(api("/_/upload"), { method: "POST", headers: { "X-CSRF-Token": CSRF }, body: data });
}

// GET /_/sources: the ids of every source image.
export async function listSources() {
  const { response, body } = await fetchJson(api("/_/sources"));
  if (!response.ok || !Array.isArray(body.sources)) throw new Error(body.error || `HTTP ${response.status}`);
  return body.sources.map((source) => Number(source.id));
}

// GET /e/<hash>: the stored fiddle (code, options, outputs' addresses).
export async function loadFiddle(hash) {
  const { response, body } = await fetchJson(api(`/e/${hash}`));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// GET /e/<hash>/results: the results area as the server renders it (an HTML fragment).
export async function loadResults(hash) {
  const response = await fetch(api(`/e/${hash}/results`), { headers: { Accept: "text/html" } });
  if (response.ok) return response.text();
  const { error } = await response.json().catch(() => ({}));
  throw new Error(error || `HTTP ${response.status}`);
}
