// Optional: counts the server-rendered seconds down on the page. Without it the page still says the exact time.
(function () {
  var els = document.querySelectorAll("[data-countdown]");
  if (!els.length) return;
  var start = Date.now();
  setInterval(function () {
    var gone = Math.floor((Date.now() - start) / 1000);
    els.forEach(function (el) {
      var left = Math.max(0, parseInt(el.getAttribute("data-countdown"), 10) - gone);
      el.textContent = String(left);
      if (left === 0 && el.hasAttribute("data-done")) el.closest("[data-wait]").textContent = el.getAttribute("data-done");
    });
  }, 1000);
})();
