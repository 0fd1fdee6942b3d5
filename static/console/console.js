// Staff console: small progressive enhancements only; every page works without JavaScript.
(function () {
  "use strict";
  // Account forms: show only the scope picker the chosen position needs.
  function syncScope(form) {
    var select = form.querySelector("[data-role-select]");
    if (!select) { return; }
    var option = select.options[select.selectedIndex];
    var needed = option ? option.getAttribute("data-scope") : "";
    form.querySelectorAll("[data-scope-field]").forEach(function (field) {
      var match = field.getAttribute("data-scope-field") === needed;
      field.hidden = !match;
      var input = field.querySelector("select");
      if (input) { input.required = match; }
    });
    var box = form.querySelector("[data-scope-pickers]");
    if (box) { box.hidden = !needed; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-account-form]").forEach(function (form) {
      var select = form.querySelector("[data-role-select]");
      if (select) { select.addEventListener("change", function () { syncScope(form); }); }
      syncScope(form);
    });
    // A submitted form's buttons are disabled (the server also refuses a second submit).
    document.querySelectorAll("main form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) {
          window.setTimeout(function () { b.disabled = true; }, 0);
        });
      });
    });
  });
})();
