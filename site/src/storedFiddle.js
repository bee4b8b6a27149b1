// A stored fiddle on screen: its results as the server renders them, the share panel and the
// status line (the problems are the caller's: a run shows them before this loads).

import { loadFiddle, loadResults } from "./api.js";
import { showBuilds } from "./builds.js";
import { showResults } from "./results.js";
import { updateShare } from "./share.js";
import { describeRun, runFailed, setStatus } from "./status.js";

// The fiddle's JSON (code, options) and its results markup (of its run at the build `runid`;
// none: its newest run), fetched together.
export async function loadStored(hash, runid) {
  const [fiddle, html] = await Promise.all([loadFiddle(hash), loadResults(hash, runid)]);
  return { fiddle, html };
}

// Shows what loadStored(hash) gave, for the run that answered `answer` (none: not run here).
export function showStored(hash, { fiddle, html }, answer) {
  showResults(html, answer);
  updateShare(hash, fiddle.options);
  showBuilds(hash, fiddle.builds);
  setStatus(answer ? describeRun(answer) : "", runFailed(answer) ? "error" : "ok");
}
