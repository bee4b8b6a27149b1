// Light and dark themes: follow prefers-color-scheme unless the visitor chose one with the toggle,
// which is kept in localStorage. Loaded in <head> (not deferred) so the page never flashes.
(function () {
  var KEY = "fiddle-theme";
  var root = document.documentElement;
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  var memory = null; // the choice, when localStorage is not available

  function saved() {
    try {
      var value = localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch (e) {
      return memory;
    }
  }
  function system() {
    return media && media.matches ? "dark" : "light";
  }
  function effective() {
    return saved() || system();
  }
  function apply() {
    var choice = saved();
    if (choice) root.setAttribute("data-theme", choice);
    else root.removeAttribute("data-theme");
    var button = document.getElementById("theme-toggle");
    if (button) {
      var dark = effective() === "dark";
      button.setAttribute("aria-pressed", dark ? "true" : "false");
      button.title = dark ? "Dark theme is on" : "Dark theme is off";
    }
  }
  function toggle() {
    var next = effective() === "dark" ? "light" : "dark";
    try {
      // Choosing what the system already prefers means "follow the system" again.
      if (next === system()) localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch (e) {
      memory = next === system() ? null : next;
    }
    apply();
  }

  apply();
  if (media && media.addEventListener) media.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", toggle);
    apply();
  });
})();
