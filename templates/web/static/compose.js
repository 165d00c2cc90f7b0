// The compose page: the email as journalists would get it, and its reach, redrawn while
// staff type (nothing is saved: /staff/compose/preview renders the unsaved form). A photo
// or document chosen is sent once; the ids it gets stand in for the file afterwards.
// Typed in a language tab (compose-tabs.js), it is that tab's preview that is redrawn:
// the email a reader of that language gets.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  if (!form || form.querySelector("fieldset[disabled]")) return;
  var preview = document.getElementById("preview");
  var reach = document.getElementById("reach");
  var status = document.getElementById("preview-status");
  var errors = document.getElementById("errors");
  // Per preview (the original's: "", a tab's: its number): a pause in typing, the last asked.
  var timers = {};
  var latest = {};
  // The page's words, in its language (templates/web/staff/_compose_strings.html).
  var words = {};
  try {
    words = JSON.parse(document.getElementById("compose-strings").textContent);
  } catch (e) { /* no block: the keys show, and the form still works */ }
  function t(key, values) {
    var text = words[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(values[name]);
    });
    return text;
  }

  function hidden(name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll(".js-error"), function (p) {
      var field = document.getElementById(p.dataset.for);
      if (field) {
        field.removeAttribute("aria-invalid");
        var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
          return id && id !== p.id;
        });
        if (ids.length) field.setAttribute("aria-describedby", ids.join(" "));
        else field.removeAttribute("aria-describedby");
      }
      p.remove();
    });
  }

  function showErrors(list) {
    clearErrors();
    errors.textContent = "";
    if (!list.length) return;
    var intro = document.createElement("p");
    intro.className = "error";
    intro.textContent = t("problems", { count: list.length });
    var ul = document.createElement("ul");
    ul.className = "error";
    list.forEach(function (error) {
      var li = document.createElement("li");
      var field = error.field && document.getElementById(error.field);
      if (field) {
        var link = document.createElement("a");
        link.href = "#" + error.field;
        link.textContent = error.message;
        li.appendChild(link);
        if (!document.getElementById(error.field + "-error")) {
          var p = document.createElement("p");
          p.className = "error js-error";
          p.id = error.field + "-error";
          p.dataset.for = error.field;
          p.textContent = error.message;
          field.insertAdjacentElement("afterend", p);
          var described = field.getAttribute("aria-describedby");
          field.setAttribute("aria-describedby", (described ? described + " " : "") + p.id);
          field.setAttribute("aria-invalid", "true");
        }
      } else {
        li.textContent = error.message;
      }
      ul.appendChild(li);
    });
    errors.appendChild(intro);
    errors.appendChild(ul);
  }

  function keepPhoto(image) {
    var id = form.querySelector("input[name=image_media_id]");
    if (!id) {
      id = hidden("image_media_id", "");
      form.querySelector("#photo").insertAdjacentElement("beforebegin", id);
    }
    id.value = image.media_id;
    var thumb = document.getElementById("photo-thumb");
    if (!thumb && image.thumb) {
      thumb = document.createElement("img");
      thumb.id = "photo-thumb";
      thumb.width = 200;
      id.insertAdjacentElement("afterend", thumb);
    }
    if (thumb) {
      thumb.src = image.thumb;
      thumb.alt = t("photo_chosen", { alt: image.alt });
    }
  }

  function keepDocuments(list) {
    var box = document.getElementById("documents");
    var known = {};
    Array.prototype.forEach.call(box.querySelectorAll("input[name=attachment_id]"), function (i) {
      known[i.value] = true;
    });
    list.forEach(function (doc) {
      if (known[doc.media_id]) return;
      var n = box.querySelectorAll(".document").length + 1;
      var row = document.createElement("div");
      row.className = "document";
      row.appendChild(hidden("attachment_id", doc.media_id));
      var label = document.createElement("label");
      label.htmlFor = "attachment_title_" + n;
      label.textContent = t("document_name", { n: n }) + (doc.label ? " (" + doc.label + ")" : "");
      var title = document.createElement("input");
      title.type = "text";
      title.id = "attachment_title_" + n;
      title.name = "attachment_title";
      title.maxLength = 200;
      title.value = doc.title;
      row.appendChild(label);
      row.appendChild(title);
      box.appendChild(row);
    });
    document.getElementById("document_title").value = "";
  }

  // Where a preview goes: the original's frame, or the one in the tab typed in.
  function target(panel) {
    if (!panel) return { key: "", frame: preview, status: status };
    var n = panel.dataset.tab;
    return {
      key: n,
      frame: document.getElementById("tr" + n + "_preview"),
      status: document.getElementById("tr" + n + "_preview-status"),
    };
  }

  function refresh(withFiles, panel) {
    var to = target(panel);
    var body = new FormData(form);
    if (!withFiles) {
      body.delete("photo");
      body.delete("document");
    }
    body.set("preview_tab", to.key);
    var asked = latest[to.key] = (latest[to.key] || 0) + 1;
    to.status.textContent = t(withFiles ? "uploading" : "updating");
    fetch(form.dataset.preview, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (r) {
        return r.headers.get("content-type").indexOf("application/json") === 0
          ? r.json()
          : { errors: [{ field: "", message: t("failed", { status: r.status }) }] };
      })
      .then(function (data) {
        if (withFiles) {
          if (data.image) keepPhoto(data.image);
          if (data.attachments) keepDocuments(data.attachments);
          var failed = {};
          (data.errors || []).forEach(function (e) { failed[e.field] = true; });
          // A stored file is now an id; one refused stays chosen, so staff see which.
          if (!failed.photo) form.querySelector("#photo").value = "";
          if (!failed.document) form.querySelector("#document").value = "";
        }
        if (asked !== latest[to.key]) return; // an older answer arriving late
        showErrors(data.errors || []);
        if (data.html) {
          to.frame.removeAttribute("src");
          to.frame.hidden = false;
          to.frame.srcdoc = data.html;
          to.status.textContent = t("shown");
        } else {
          to.status.textContent = t("stale");
        }
        if (data.reach) {
          // The number in bold, wherever the language puts it in the sentence.
          var around = t("reach").split("{count}");
          reach.textContent = "";
          reach.appendChild(document.createTextNode(around[0]));
          var strong = document.createElement("strong");
          strong.textContent = data.reach.total;
          reach.appendChild(strong);
          reach.appendChild(document.createTextNode(around.slice(1).join("")));
        }
      })
      .catch(function () {
        to.status.textContent = t("offline");
      });
  }

  function later(panel, wait) {
    var key = target(panel).key;
    clearTimeout(timers[key]);
    timers[key] = setTimeout(function () { refresh(false, panel); }, wait);
  }

  form.addEventListener("input", function (event) {
    if (event.target.type === "file" || !event.target.name) return; // the tab picker
    later(event.target.closest(".translation-panel"), 400);
  });
  // A tab shown again (compose-tabs.js): redrawn if anything is typed in it.
  form.addEventListener("compose-tab-shown", function (event) {
    var typed = Array.prototype.some.call(
      event.target.querySelectorAll("input[type=text], textarea"),
      function (el) { return el.value.trim() !== ""; }
    );
    if (typed) later(event.target, 0);
  });
  form.addEventListener("change", function (event) {
    if (event.target.type === "file") {
      clearTimeout(timers[""]);
      refresh(true, null);
    } else if (event.target.name && (event.target.tagName === "SELECT" || event.target.type === "checkbox")) {
      later(null, 150);
    }
  });
})();
