// List upload (名单上传): send the form with XMLHttpRequest to show upload progress (bytes sent %),
// then "正在校验…" until the server answers. Without JavaScript the plain form post works the same.
(function () {
  "use strict";
  function enhance(form) {
    var box = form.querySelector("[data-upload-progress]");
    var bar = box.querySelector("progress");
    var label = box.querySelector("[data-upload-label]");
    var percent = box.querySelector("[data-upload-percent]");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      box.hidden = false;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var p = Math.round(e.loaded * 100 / e.total);
          bar.value = p;
          percent.textContent = p + "%";
        }
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value");      // indeterminate while the server checks every row
        label.textContent = "正在校验…";
        percent.textContent = "";
      });
      xhr.addEventListener("load", function () {
        // Show the server's page (the stored list, or the error report) as a normal post would.
        if (xhr.responseURL && xhr.responseURL !== window.location.href) {
          window.history.replaceState(null, "", xhr.responseURL);
        }
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () {
        label.textContent = "上传失败，请检查网络后重试";
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
      });
      xhr.send(new FormData(form));
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload-form]").forEach(enhance);
  });
})();
