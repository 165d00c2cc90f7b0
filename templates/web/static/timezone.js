// Preselect the visitor's time zone on the sign-up form, if the browser knows it
// and the list has it; the journalist can still choose another.
(function () {
  var select = document.querySelector("select[data-guess]");
  if (!select || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) {
      select.value = zone;
      return;
    }
  }
})();
