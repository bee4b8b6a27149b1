// The admin pages' delete buttons: ask first, then DELETE through the JSON API with the session's
// CSRF token and take the row away, saying what happened. Without this script the same buttons
// submit their CSRF-protected forms (no question asked) and the page reloads.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');
  var status = document.getElementById("admin-status");

  // The message, and a link after it (a job the action started) when there is one.
  function say(text, kind, link) {
    if (!status) return;
    status.textContent = text;
    status.setAttribute("data-kind", kind);
    if (link) {
      var anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.textContent = link.text;
      status.append(" ", anchor);
    }
  }

  function submit(event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.admin-delete")) return;
    event.preventDefault();
    if (!window.confirm(form.getAttribute("data-confirm"))) return;
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.getAttribute("data-delete"), {
      method: "DELETE",
      headers: { Accept: "application/json", "X-CSRF-Token": token ? token.content : "" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return { error: "The service answered HTTP " + response.status + "." };
          })
          .then(function (body) {
            if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
            return body;
          });
      })
      .then(function (body) {
        var row = form.closest("tr");
        var table = row.closest("table");
        var next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        var job = body && body.job ? { href: "/admin/jobs", text: "job " + body.job.id } : null;
        say(form.getAttribute("data-done"), "ok", job);
        if (!table.tBodies[0].rows.length) {
          table.hidden = true;
          document.getElementById("admin-empty").hidden = false;
        }
        // Keep the keyboard where it was: on the next row's button, or the message.
        var target = next && next.querySelector("button");
        if (target) target.focus();
      })
      .catch(function (error) {
        button.disabled = false;
        say(error.message, "error");
      });
  }

  document.addEventListener("submit", submit);
})();
