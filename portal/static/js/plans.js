// The coordinated plan: progressive enhancement only; the page works without it.
(function () {
  "use strict";
  // When a poll of the live part fails (for example because access to the plan has
  // ended), stop polling: detach the polling element so htmx's timer ends, and
  // say so in the status region. Every further poll would only be refused again.
  document.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "plan-live") { return; }
    var copy = elt.cloneNode(true);
    copy.removeAttribute("hx-get");
    copy.removeAttribute("hx-trigger");
    elt.replaceWith(copy);
    var status = document.getElementById("plan-live-status");
    var message = copy.getAttribute("data-stopped-message") || "";
    if (status) {
      status.textContent = message;
      status.classList.remove("visually-hidden");
      status.classList.add("notice", "notice-error");
    }
    var announcer = document.getElementById("announcer");  // read out (see indgang.js)
    if (announcer) { announcer.textContent = message; }
  });
})();
(function () {
  "use strict";
  // A poll that brings changes replaces the live part; keep keyboard focus on the
  // same link or button (by id) so nobody loses their place.
  var focusedId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    focusedId = (event.detail.target && event.detail.target.id === "plan-live" && active && active.id &&
      event.detail.target.contains(active)) ? active.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!focusedId) { return; }
    var again = document.getElementById(focusedId);
    if (again) { again.focus(); }
    focusedId = null;
  });
})();
