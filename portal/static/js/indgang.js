// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // The "js" class tells the CSS that the phone menu can open as a drawer.
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    if (window.DKFDS) { window.DKFDS.init(); }
  });
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

  // Warn before the idle limit ends the session (WCAG 2.2.1): "Stay logged in" is a
  // request, which counts as activity. Any request the person makes starts the clock
  // again; background polls do not (the server does not count them either).
  document.addEventListener("DOMContentLoaded", function () {
    var warning = document.getElementById("session-warning");
    if (!warning) { return; }
    var idle = Number(warning.getAttribute("data-idle-seconds")) * 1000;
    var warn = Number(warning.getAttribute("data-warn-seconds")) * 1000;
    var text = document.getElementById("session-warning-text");
    var form = warning.querySelector("form");
    var warnTimer, endTimer;
    function start() {
      window.clearTimeout(warnTimer);
      window.clearTimeout(endTimer);
      warning.hidden = true;
      warnTimer = window.setTimeout(function () {
        warning.hidden = false;
        warning.querySelector("button").focus();
      }, idle - warn);
      endTimer = window.setTimeout(function () {
        text.textContent = text.getAttribute("data-expired-text");
        form.hidden = true;
        warning.hidden = false;
      }, idle);
    }
    document.addEventListener("htmx:afterRequest", function (event) {
      var headers = (event.detail.requestConfig || {}).headers || {};
      var poll = headers["X-Indgang-Poll"] && headers["X-Indgang-Poll"] === headers["HX-Trigger"];
      if (!poll && event.detail.successful) { start(); }
    });
    start();
  });

  // Status texts that htmx swaps in (a case count, a request's status, "the plan
  // has been updated") are read out through one live region that stays in the page
  // (#announcer): a live region that is itself swapped in is often not announced.
  // A text is read out when it changes; [data-announce-always] every time it comes.
  var announced = {};
  function statusTexts() {
    var found = [];
    document.querySelectorAll("[data-announce]").forEach(function (el) {
      found.push({el: el, key: el.getAttribute("data-announce"),
                  text: el.textContent.replace(/\s+/g, " ").trim()});
    });
    return found;
  }
  document.addEventListener("DOMContentLoaded", function () {
    statusTexts().forEach(function (s) { announced[s.key] = s.text; });
  });
  document.addEventListener("htmx:afterSettle", function () {
    var announcer = document.getElementById("announcer");
    if (!announcer) { return; }
    var say = [];
    statusTexts().forEach(function (s) {
      var always = s.el.hasAttribute("data-announce-always");
      if (s.text && (always || (s.key in announced && announced[s.key] !== s.text))) { say.push(s.text); }
      announced[s.key] = s.text;
      s.el.removeAttribute("data-announce-always");
    });
    if (say.length) {
      announcer.textContent = "";
      window.setTimeout(function () { announcer.textContent = say.join(" "); }, 100);
    }
  });
})();
