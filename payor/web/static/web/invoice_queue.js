/*
 * Invoices queue: the "select all on this page" checkbox of the bulk-approval form. No inline script (CSP-safe);
 * wired again after every HTMX swap of the rows.
 */
(function () {
  "use strict";

  function wire() {
    var root = document.getElementById("bulk-form");
    var all = root && root.querySelector("[data-select-all]");
    if (!all || all.dataset.wired) return;
    all.dataset.wired = "1";
    var boxes = function () {
      return root.querySelectorAll('input[name="invoice"]');
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (box) {
        box.checked = all.checked;
      });
    });
    root.addEventListener("change", function (event) {
      if (event.target.name !== "invoice") return;
      var list = Array.prototype.slice.call(boxes());
      var checked = list.filter(function (box) {
        return box.checked;
      }).length;
      all.checked = checked === list.length;
      all.indeterminate = checked > 0 && checked < list.length;
    });
  }

  function init() {
    wire();
    document.body.addEventListener("htmx:afterSwap", wire);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
