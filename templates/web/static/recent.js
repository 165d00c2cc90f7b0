// "Recently this would have sent you": keeps each form's list in step with its choice.
// The page already shows the list for the choice it was opened with; as countries,
// regions or topics change, this asks /news/matching and redraws the box. Without
// this script nothing changes on the page, and the form posts the same fields.
(function () {
  var WAIT_MS = 250; // one request after a burst of clicks, not one per click

  function choice(form) {
    var params = new URLSearchParams();
    form.querySelectorAll("select[name=countries] option").forEach(function (option) {
      if (option.selected) {
        params.append(option.parentNode.hasAttribute("data-regions") ? "region" : "country", option.value);
      }
    });
    form.querySelectorAll("input[name=topics]").forEach(function (box) {
      if (box.checked) params.append("topic", box.value);
    });
    return params;
  }

  function draw(box, items, chosen) {
    var level = box.getAttribute("data-recent-level") || "2";
    box.replaceChildren();
    box.removeAttribute("aria-labelledby");
    if (items.length) {
      var heading = document.createElement("h" + level);
      heading.id = box.id + "-heading";
      heading.textContent = box.getAttribute("data-recent-heading");
      var list = document.createElement("ul");
      items.forEach(function (item) {
        var row = document.createElement("li");
        row.lang = item.language;
        row.dir = item.dir;  // said every time: an English release on an Arabic page is ltr
        var link = document.createElement("a");
        link.href = item.href;
        link.textContent = item.title;
        var when = document.createElement("span");
        when.className = "hint";
        when.textContent = item.published;
        row.append(link, " ", when);
        list.appendChild(row);
      });
      box.append(heading, list);
      box.setAttribute("aria-labelledby", heading.id);
    } else if (chosen) {
      var none = document.createElement("p");
      none.className = "hint";
      none.textContent = box.getAttribute("data-recent-none");
      box.appendChild(none);
    }
    box.setAttribute("data-recent-shown", String(items.length));
  }

  function watch(box) {
    if (box.hasAttribute("data-recent-ready")) return;
    box.setAttribute("data-recent-ready", "");
    var form = box.closest("form");
    if (!form) return;
    var timer = null;
    var inFlight = null;
    function refresh() {
      var params = choice(form);
      var chosen = Array.from(params.keys()).length > 0;
      if (inFlight) inFlight.abort();
      if (!chosen) {
        draw(box, [], false);
        return;
      }
      params.append("lang", box.getAttribute("data-recent-lang") || "en");
      inFlight = new AbortController();
      fetch(box.getAttribute("data-recent") + "?" + params.toString(), {
        signal: inFlight.signal,
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : { items: [] };
        })
        .then(function (data) {
          draw(box, data.items || [], true);
        })
        .catch(function () {
          // Aborted by a newer choice, or offline: the list shown stays as it was.
        });
    }
    form.addEventListener("change", function (event) {
      var field = event.target;
      if (field.name !== "countries" && field.name !== "topics") return;
      clearTimeout(timer);
      timer = setTimeout(refresh, WAIT_MS);
    });
  }

  function start() {
    document.querySelectorAll("[data-recent]").forEach(watch);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
