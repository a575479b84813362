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
  // picker offers, as the operator types, the subjects the console finds
  // for it: any of thousands of devices, not only the first ones.
  function picker(input) {
    var list = document.getElementById(input.getAttribute("list")), timer = null, asked = "";
    if (!list) return;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q === asked) return;
        asked = q;
        fetch(input.getAttribute("data-search") + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (found) {
            if (!found || q !== asked) return;
            list.replaceChildren.apply(list, found.subjects.map(function (s) {
              var o = document.createElement("option");
              o.value = s.value;
              o.textContent = s.label;
              return o;
            }));
            list.setAttribute("data-for", q);
          });
      }, 150);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("input[data-search][list]").forEach(picker);
  });
})();
