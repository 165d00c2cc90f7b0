// The staff translations page: each language's section redraws its own preview while
// staff type in it (nothing is saved: translations/preview renders the unsaved form).
// Without this script, each section's "Preview" button does the same with a page load.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form.translation[data-preview]"), function (form) {
    var frame = document.getElementById(form.dataset.frame);
    var status = document.getElementById(form.dataset.status);
    var timer = null;
    var latest = 0;

    function refresh() {
      var asked = ++latest;
      fetch(form.dataset.preview, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (r) {
          return (r.headers.get("content-type") || "").indexOf("application/json") === 0
            ? r.json()
            : { html: null, error: String(r.status) };
        })
        .then(function (data) {
          if (asked !== latest) return; // an older answer arriving late
          if (data.html) {
            frame.removeAttribute("src");
            frame.hidden = false;
            frame.srcdoc = data.html;
          }
          // The server's words (in the page's language) say what is wrong, if anything.
          if (status) status.textContent = data.error || (data.html ? status.dataset.typed : "");
        })
        .catch(function () { /* offline: the "Preview" button still works */ });
    }

    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
  });
})();
