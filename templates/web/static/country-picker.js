// The compose page's countries: a search box over the plain selects (which stay the form's
// fields, so the page works the same without this script), a list of what is chosen,
// and a click on a country that adds or removes it without Ctrl.
(function () {
  "use strict";
  var picker = document.getElementById("country-picker");
  if (!picker) return;
  var search = document.getElementById("country-search");
  var chosen = document.getElementById("country-chosen");
  var countries = document.getElementById("countries");
  var regions = document.getElementById("regions");
  var selects = [countries, regions];
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
  picker.querySelector(".picker-search").hidden = false;
  document.getElementById("countries-hint").textContent = t("countries_hint");

  function changed(select) {
    select.dispatchEvent(new Event("change", { bubbles: true }));
    drawChosen();
  }

  function drawChosen() {
    chosen.textContent = "";
    selects.forEach(function (select) {
      Array.prototype.forEach.call(select.selectedOptions, function (option) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        var name =
          select === regions ? t("whole_region", { name: option.textContent }) : option.textContent;
        button.textContent = name + " \u00d7";
        button.setAttribute("aria-label", t("remove", { name: name }));
        button.addEventListener("click", function () {
          option.selected = false;
          changed(select);
          search.focus();
        });
        item.appendChild(button);
        chosen.appendChild(item);
      });
    });
    if (!chosen.firstChild) {
      var none = document.createElement("li");
      none.textContent = t("none_yet");
      chosen.appendChild(none);
    }
  }

  // "mex" finds "México": accents count for nothing in a search (as in picker.js).
  function folded(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function filter() {
    var words = folded(search.value.trim());
    selects.forEach(function (select) {
      Array.prototype.forEach.call(select.options, function (option) {
        var text = folded(option.textContent + " " + option.value);
        option.hidden = words !== "" && text.indexOf(words) === -1;
      });
    });
  }

  function firstMatch() {
    for (var s = 0; s < selects.length; s++) {
      var options = selects[s].options;
      for (var i = 0; i < options.length; i++) {
        if (!options[i].hidden) return [selects[s], options[i]];
      }
    }
    return null;
  }

  search.addEventListener("input", filter);
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault(); // Enter here adds a country; it must not submit the form
      var match = search.value.trim() ? firstMatch() : null;
      if (match) {
        match[1].selected = true;
        search.value = "";
        filter();
        changed(match[0]);
      }
    } else if (event.key === "Escape") {
      search.value = "";
      filter();
    }
  });
  selects.forEach(function (select) {
    // A click toggles one option, as a checkbox would; the keyboard keeps the select's own keys.
    select.addEventListener("mousedown", function (event) {
      var option = event.target;
      if (option.tagName !== "OPTION") return;
      event.preventDefault();
      option.selected = !option.selected;
      select.focus();
      changed(select);
    });
    select.addEventListener("change", drawChosen);
  });
  drawChosen();
})();
