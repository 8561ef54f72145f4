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
    if (status) {
      status.textContent = copy.getAttribute("data-stopped-message") || "";
      status.classList.remove("visually-hidden");
      status.classList.add("notice", "notice-error");
    }
  });
})();
