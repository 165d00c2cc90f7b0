// The compose page's language tabs (a new item's translations). Without this script each
// language is a fieldset of the form, all shown. With it they become ARIA tabs (WAI-ARIA
// Authoring Practices, "Tabs with automatic activation"): only the languages staff add
// get a tab, arrow keys, Home and End move between them, and compose.js redraws the
// preview of the tab typed in. A tab removed is emptied: an empty tab is no translation.
(function () {
  "use strict";
  var box = document.getElementById("translations");
  var list = document.getElementById("translation-tabs");
  if (!box || !list || box.closest("fieldset[disabled]")) return;
  var panels = Array.prototype.slice.call(box.querySelectorAll(".translation-panel"));
  var rtl = (box.dataset.rtl || "").split(" ");
  var words = {};
  try {
    words = JSON.parse(document.getElementById("compose-strings").textContent);
  } catch (e) { /* no block: the keys show, and the form still works */ }
  function t(key) { return words[key] || key; }

  var tabs = {};
  list.setAttribute("role", "tablist");
  list.setAttribute("aria-label", t("translations"));

  function shown() {
    return panels.map(function (p) { return tabs[p.dataset.tab]; }).filter(function (b) {
      return !b.hidden;
    });
  }

  function select(tab, focus) {
    panels.forEach(function (panel) {
      var other = tabs[panel.dataset.tab];
      var on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
      panel.hidden = !on;
      // Its preview may be behind the original's words (a field left empty is theirs):
      // compose.js redraws it.
      if (on) panel.dispatchEvent(new CustomEvent("compose-tab-shown", { bubbles: true }));
    });
    if (focus && tab) tab.focus();
  }

  // A tablist with no tab is an empty widget for a screen reader: hidden until one is added.
  function update() {
    var open = shown();
    list.hidden = open.length === 0;
    Array.prototype.forEach.call(picker.options, function (option) {
      option.hidden = option.disabled = !tabs[option.value].hidden;
    });
    var left = Array.prototype.filter.call(picker.options, function (o) { return !o.disabled; });
    adder.hidden = left.length === 0;
    if (left.length && picker.selectedOptions[0] && picker.selectedOptions[0].disabled) {
      picker.value = left[0].value;
    }
  }

  // The direction and language of a typed code, on the tab's inputs and its preview.
  function direct(panel, code) {
    var valid = /^[a-z]{2,3}(-[A-Z]{2})?$/.test(code);
    Array.prototype.forEach.call(panel.querySelectorAll("input[type=text], textarea, iframe"), function (el) {
      if (el.name && /_language$/.test(el.name)) return;
      if (valid) {
        el.lang = code;
        if (rtl.indexOf(code.split("-")[0]) >= 0) el.dir = "rtl";
        else el.removeAttribute("dir");
      } else {
        el.removeAttribute("lang");
        el.removeAttribute("dir");
      }
    });
  }

  var adder = document.createElement("div");
  adder.className = "tab-adder";
  var pickerLabel = document.createElement("label");
  pickerLabel.htmlFor = "translation-add";
  pickerLabel.textContent = t("add_translation");
  var picker = document.createElement("select");
  picker.id = "translation-add"; // no name: not part of the form
  var add = document.createElement("button");
  add.type = "button";
  add.className = "secondary";
  add.textContent = t("add");
  adder.appendChild(pickerLabel);
  adder.appendChild(picker);
  adder.appendChild(add);
  // Before the tabs, so that each tab is followed by its panel (the order readers expect).
  list.insertAdjacentElement("beforebegin", adder);

  panels.forEach(function (panel) {
    var n = panel.dataset.tab;
    var tab = document.createElement("button");
    tab.type = "button";
    tab.id = "tab-button-" + n;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-controls", panel.id);
    tab.textContent = panel.dataset.label;
    if (panel.dataset.lang) {
      tab.lang = panel.dataset.lang;
      if (rtl.indexOf(panel.dataset.lang.split("-")[0]) >= 0) tab.dir = "rtl";
    }
    tab.hidden = !panel.hasAttribute("data-open");
    tab.addEventListener("click", function () { select(tab, false); });
    tabs[n] = tab;
    list.appendChild(tab);
    panel.setAttribute("role", "tabpanel");
    panel.setAttribute("aria-labelledby", tab.id);
    panel.hidden = true;
    var option = document.createElement("option");
    option.value = n;
    option.textContent = panel.dataset.label;
    if (panel.dataset.lang) option.lang = panel.dataset.lang;
    picker.appendChild(option);

    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "danger";
    remove.textContent = t("remove_translation");
    remove.addEventListener("click", function () {
      Array.prototype.forEach.call(panel.querySelectorAll("input[type=text], textarea"), function (el) {
        el.value = "";
      });
      var frame = panel.querySelector("iframe");
      frame.removeAttribute("srcdoc");
      frame.hidden = true;
      var status = panel.querySelector("[role=status]");
      if (status) status.textContent = "";
      tab.hidden = true;
      update();
      var open = shown();
      select(open[0] || null, false);
      (open[0] || picker).focus();
    });
    panel.querySelector("fieldset").appendChild(remove);

    var code = panel.querySelector("input[type=text][name$=_language]");
    if (code) {
      // The tab is named by the code typed in it (as sent back after a refused submit too).
      var named = function () {
        var value = code.value.trim();
        tab.textContent = value || panel.dataset.label;
        direct(panel, value);
      };
      code.addEventListener("input", named);
      named();
    }
  });

  add.addEventListener("click", function () {
    var tab = tabs[picker.value];
    if (!tab) return;
    tab.hidden = false;
    update();
    select(tab, true);
  });

  list.addEventListener("keydown", function (event) {
    var open = shown();
    var at = open.indexOf(document.activeElement);
    if (at < 0) return;
    var next = {
      ArrowRight: open[(at + 1) % open.length],
      ArrowLeft: open[(at - 1 + open.length) % open.length],
      Home: open[0],
      End: open[open.length - 1],
    }[event.key];
    if (!next) return;
    event.preventDefault();
    select(next, true);
  });

  // A problem's link in the summary above the form opens the tab its field is in.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href^='#tr']");
    if (!link) return;
    var field = document.getElementById(link.getAttribute("href").slice(1));
    var panel = field && field.closest(".translation-panel");
    if (!panel) return;
    tabs[panel.dataset.tab].hidden = false;
    update();
    select(tabs[panel.dataset.tab], false);
  });

  update();
  // After a submit: the tab with a problem, else the one previewed, else the first one.
  var open = shown();
  var first = panels.filter(function (p) {
    return p.querySelector("[aria-invalid=true]") && !tabs[p.dataset.tab].hidden;
  })[0] || panels.filter(function (p) { return p.querySelector("iframe[srcdoc]"); })[0];
  select(first ? tabs[first.dataset.tab] : open[0] || null, false);
})();
