// Staff pages: live delivery progress (the compose page's preview is compose.js).
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var root = form ? form.dataset.preview.split("/staff/")[0] : "";

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
