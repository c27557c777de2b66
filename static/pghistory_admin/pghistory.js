// Niceties only: every page works without this script.
(function () {
  "use strict";

  // On narrow screens, fold the filters away unless a filter needs attention.
  var filters = document.querySelector("details.pgh-filters-box");
  if (filters && window.matchMedia("(max-width: 900px)").matches &&
      !filters.querySelector(".errorlist")) {
    filters.open = false;
  }

  // Leave empty filters out of the URL, so that shared links hold only what was chosen.
  var form = document.querySelector(".pgh-filters form");
  if (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (field) {
        if (field.name && !field.value && field.type !== "checkbox") {
          field.disabled = true;
        }
      });
    });
  }
})();
