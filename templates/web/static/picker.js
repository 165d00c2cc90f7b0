// Country and region picker: puts a search box and a list of checkboxes in front of
// each <select multiple data-picker>. The select stays the form field (hidden, kept
// in step), so the form posts the same values with or without this script.
(function () {
  function fold(text) {
    // Case and accents ignored: "mex" finds "México", "cote" finds "Côte d'Ivoire".
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function enhance(select) {
    if (select.hasAttribute("data-picker-ready")) return;
    select.setAttribute("data-picker-ready", "");
    var box = document.createElement("div");
    box.className = "picker";
    var search = document.createElement("input");
    search.type = "search";
    search.id = select.id + "-search";
    search.setAttribute("aria-label", select.getAttribute("data-picker-search") || "Search");
    search.setAttribute("aria-controls", select.id + "-choices");
    search.autocomplete = "off";
    var list = document.createElement("div");
    list.className = "picker-choices";
    list.id = select.id + "-choices";
    list.setAttribute("role", "group");
    var label = document.querySelector('label[for="' + select.id + '"]');
    if (label) {
      if (!label.id) label.id = select.id + "-label";
      list.setAttribute("aria-labelledby", label.id);
    }
    var rows = [];
    Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
      var heading = document.createElement("p");
      heading.className = "picker-group";
      heading.textContent = group.label;
      list.appendChild(heading);
      Array.prototype.forEach.call(group.querySelectorAll("option"), function (option) {
        var row = document.createElement("label");
        var check = document.createElement("input");
        check.type = "checkbox";
        check.value = option.value;
        check.checked = option.selected;
        check.addEventListener("change", function () {
          option.selected = check.checked;
          select.dispatchEvent(new Event("change", { bubbles: true }));
        });
        row.appendChild(check);
        row.appendChild(document.createTextNode(" " + option.textContent));
        list.appendChild(row);
        rows.push({ row: row, heading: heading, text: fold(option.textContent + " " + option.value) });
      });
    });
    search.addEventListener("input", function () {
      var wanted = fold(search.value.trim());
      var shown = new Map();
      rows.forEach(function (entry) {
        var match = !wanted || entry.text.indexOf(wanted) !== -1;
        entry.row.hidden = !match;
        if (match) shown.set(entry.heading, true);
      });
      rows.forEach(function (entry) {
        entry.heading.hidden = !shown.has(entry.heading);
      });
    });
    box.appendChild(search);
    box.appendChild(list);
    select.parentNode.insertBefore(box, select);
    select.hidden = true;
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("select[data-picker]"), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
