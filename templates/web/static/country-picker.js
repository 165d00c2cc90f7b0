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
  picker.querySelector(".picker-search").hidden = false;
  document.getElementById("countries-hint").textContent =
    "Choose the countries the item is about: search, or click a country to add or remove it.";

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
        var name = option.textContent + (select === regions ? " (the whole region)" : "");
        button.textContent = name + " \u00d7";
        button.setAttribute("aria-label", "Remove " + name);
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
      none.textContent = "none yet";
      chosen.appendChild(none);
    }
  }

  function filter() {
    var words = search.value.trim().toLowerCase();
    selects.forEach(function (select) {
      Array.prototype.forEach.call(select.options, function (option) {
        var text = (option.textContent + " " + option.value).toLowerCase();
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
