// Loaded first by every page: records script errors in window.otrangeErrors
// (the browser tests assert it stays empty) and shows them in the page's
// #error-banner instead of failing silently.
"use strict";
window.otrangeErrors = [];
(function () {
  function show(msg) {
    window.otrangeErrors.push(msg);
    var el = document.getElementById("error-banner");
    if (el) {
      el.textContent = "Something went wrong in this page: " + msg;
      el.hidden = false;
    }
  }
  window.addEventListener("error", function (e) {
    show((e.message || "script error") + (e.filename ? " (" + e.filename + ":" + e.lineno + ")" : ""));
  });
  window.addEventListener("unhandledrejection", function (e) {
    show("unhandled: " + (e.reason && e.reason.message ? e.reason.message : String(e.reason)));
  });
})();
