// Staff pages: live preview while composing a draft, and live delivery progress.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var preview = document.getElementById("preview");
  var reach = document.getElementById("reach");
  var root = (preview && preview.getAttribute("src").split("/api/")[0]) || "";

  function refreshPreview(itemId) {
    if (preview) preview.src = root + "/api/items/" + itemId + "/preview?format=html&t=" + Date.now();
    if (reach) {
      fetch(root + "/api/items/" + itemId + "/reach", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data) reach.textContent = "Would reach " + data.total + " journalist(s) now.";
        });
    }
  }

  if (form && form.dataset.item) {
    var timer = null;
    var itemId = form.dataset.item;
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        // Save the draft through the same CSRF-protected form endpoint, then re-render.
        fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                             redirect: "manual" })
          .then(function () { refreshPreview(itemId); });
      }, 600);
    });
  }

  var progress = document.getElementById("progress");
  if (progress) {
    var id = progress.dataset.item;
    var text = document.getElementById("progress-text");
    var bar = progress.querySelector(".bar");
    setInterval(function () {
      fetch(root + "/api/items/" + id + "/deliveries?per_page=1", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var c = data.counts;
          var pending = (c.pending || 0) + (c.sending || 0);
          text.textContent = (c.sent || 0) + " sent, " + pending + " pending, " + (c.failed || 0) +
            " failed, " + (c.cancelled || 0) + " cancelled, of " + data.total;
          var pct = data.total ? Math.round(100 * (c.sent || 0) / data.total) : 0;
          bar.firstElementChild.style.width = pct + "%";
          bar.setAttribute("aria-valuenow", c.sent || 0);
          bar.setAttribute("aria-valuemax", data.total);
        });
    }, 1000);
  }
})();
