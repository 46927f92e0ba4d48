// "Nearest first": ask the phone where it is, then load the list ordered by distance (sent as a POST).
(function () {
  "use strict";
  var link = document.getElementById("nearest-first");
  var message = document.getElementById("locate-message");
  if (!link) return;
  var text = link.dataset;  // "locating" and "failed", in the page's language
  link.addEventListener("click", function (event) {
    if (!navigator.geolocation) { message.textContent = text.failed; event.preventDefault(); return; }
    event.preventDefault();
    message.textContent = text.locating;
    navigator.geolocation.getCurrentPosition(function (position) {
      // The position goes in the list's form (a POST), never in a URL: history and server logs would keep
      // where the member stood, at whose door.
      var form = link.form || link.closest("form");
      function field(name, value) {
        var input = form.elements[name];
        if (!input) {
          input = document.createElement("input");
          input.type = "hidden";
          input.name = name;
          form.appendChild(input);
        }
        input.value = value;
      }
      field("order", "nearest");
      field("lat", position.coords.latitude.toFixed(6));
      field("lon", position.coords.longitude.toFixed(6));
      form.submit();  // the whole page, so that the order buttons show the new order too
    }, function () {
      message.textContent = text.failed;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
})();
