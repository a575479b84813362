// curfew console: makes the countdowns tick. Everything works without it.
"use strict";
(function () {
  function span(ms) {
    if (ms <= 0) return "0 s";
    var s = Math.round(ms / 1000), d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24,
        m = Math.floor(s / 60) % 60;
    s = s % 60;
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + m + " min";
    if (m > 0) return m + " min " + s + " s";
    return s + " s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".left[data-end]").forEach(function (el) {
      var end = Date.parse(el.getAttribute("data-end"));
      if (!isNaN(end)) el.textContent = span(end - now);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
  });
})();
