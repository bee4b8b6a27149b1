// The jobs page's live progress: while any job has not ended, read /_/jobs each second and update
// each row's state, progress bar and outcome counts in place. Without this script the page
// reloads itself every 3 seconds while a job is active (a <noscript> refresh).
(function () {
  "use strict";
  var FINAL = { done: true, failed: true, cancelled: true };

  function counts(job) {
    var parts = [];
    Object.keys(job.progress.counts).sort().forEach(function (kind) {
      parts.push(kind + " " + job.progress.counts[kind]);
    });
    return parts.join(", ");
  }

  function show(job) {
    var row = document.querySelector('tr[data-job="' + job.id + '"]');
    if (!row) return false;
    row.querySelector('[data-field="state"]').textContent =
      job.state + (job.error ? ": " + job.error : "");
    var bar = row.querySelector('[data-field="bar"]');
    bar.max = job.progress.total || 1;
    bar.value = job.progress.done;
    row.querySelector('[data-field="progress"]').textContent =
      job.progress.done + " / " + job.progress.total;
    row.querySelector('[data-field="counts"]').textContent = counts(job);
    if (FINAL[job.state]) {
      var form = row.querySelector("form");
      if (form) form.remove();
    }
    return true;
  }

  function poll() {
    fetch("/_/jobs?limit=200", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        var active = false, unknown = false;
        answer.jobs.forEach(function (job) {
          if (!show(job)) unknown = true;
          if (!FINAL[job.state]) active = true;
        });
        if (unknown) window.location.reload(); // a job started elsewhere: show its row
        else if (active) window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  if (document.querySelector("tr[data-job]")) poll();
})();
