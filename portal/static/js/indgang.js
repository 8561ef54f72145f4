// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  function focusErrorSummary(root) {
    var summary = (root || document).querySelector(".error-summary");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () { focusErrorSummary(document); });
  // After an htmx swap, move focus to the new error summary or to the first
  // element that asks for it, so screen-reader users hear the result.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    var wanted = target.querySelector("[data-focus-after-swap]") || target.querySelector(".error-summary");
    if (wanted) { wanted.focus(); }
  });
})();
