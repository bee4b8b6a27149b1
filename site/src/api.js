// Every request the editor and the embeds make. The editor's go to the API at
// <meta name="fiddle-api"> (empty: this origin), so the same page works when site/ is served as
// plain files from another origin. Requests that change something carry the session's CSRF token
// from <meta name="csrf-token">, which the page has only when someone is signed in.
//
// apiClient() is the anonymous part of the API (run, fiddle JSON, results) at any address; the
// embeds use it with `credentials: "omit"`, so they never send the visitor's cookies.

export const API = (document.querySelector('meta[name="fiddle-api"]')?.content || "").replace(/\/+$/, "");
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";

// An answer that was not a success; `status` is the HTTP status (0: no answer at all).
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
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

// The anonymous API at `base` ("": this origin). `credentials` is fetch's: the editor sends its
// own origin's cookies ("same-origin"), an embed none ("omit").
export function apiClient(base, credentials = "same-origin") {
  const url = (path) => base + path;
  return {
    url,
    // POST /_/run: `{ response, body }`, body being the run's answer or the error. `version`
    // (HEAD, m87, 87.9, a runid; none: HEAD) is the Skia build to run at.
    postRun(code, options, version) {
      const body = JSON.stringify(version ? { code, options, version } : { code, options });
      const headers = { "Content-Type": "application/json" };
      return fetchJson(url("/_/run"), { method: "POST", credentials, headers, body });
    },
    // GET /e/<reference>: the stored fiddle (code, options, outputs' addresses).
    async loadFiddle(reference) {
      const { response, body } = await fetchJson(url(`/e/${reference}`), { credentials });
      if (!response.ok) throw new ApiError(body.error || `HTTP ${response.status}`, response.status);
      return body;
    },
    // GET /e/<reference>/results: the results area as the server renders it (an HTML fragment),
    // of the run at the build `runid` (none: the newest run).
    async loadResults(reference, runid) {
      const query = runid ? `?version=${encodeURIComponent(runid)}` : "";
      const response = await fetch(url(`/e/${reference}/results${query}`), { credentials, headers: { Accept: "text/html" } });
      if (response.ok) return response.text();
      const { error } = await response.json().catch(() => ({}));
      throw new ApiError(error || `HTTP ${response.status}`, response.status);
    },
  };
}

const page = apiClient(API);

export const api = page.url;
export const postRun = page.postRun;
export const loadFiddle = page.loadFiddle;
export const loadResults = page.loadResults;

function postJson(path, payload, headers = {}) {
  return fetchJson(api(path), {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(payload),
  });
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
