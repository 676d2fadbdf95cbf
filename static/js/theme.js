// The colour theme: the person's choice from localStorage, else the system's setting. A classic script loaded in
// <head> so the theme is set before the first paint; it also wires the theme button once the page exists.
(function () {
  "use strict";
  var KEY = "ff.theme";
  var root = document.documentElement;
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function chosen() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (error) {
      return null;
    }
  }

  function apply(theme) {
    root.setAttribute("data-theme", theme);
    var button = document.getElementById("theme-toggle");
    // The button names what a press does, not the theme in force: "Dark theme" while dark was on read as a state.
    if (button) button.textContent = theme === "dark" ? "Switch to light theme" : "Switch to dark theme";
  }

  function system() {
    return query && query.matches ? "dark" : "light";
  }

  apply(chosen() || system());

  if (query && query.addEventListener) {
    // Until the person picks a theme, follow the system as it changes (a laptop switching to dark at night).
    query.addEventListener("change", function () {
      if (!chosen()) apply(system());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    apply(root.getAttribute("data-theme"));
    button.addEventListener("click", function () {
      var next = root.getAttribute("data-theme") === "dark" ? "light" : "dark";
      try {
        window.localStorage.setItem(KEY, next);
      } catch (error) {
        // Storage refused: the choice lasts for this page only.
      }
      apply(next);
    });
  });
})();
