// Adding a household found at the door: a village house takes the phone's position.
(function () {
  "use strict";
  var button = document.getElementById("use-position");
  if (!button || !navigator.geolocation) return;
  var status = document.getElementById("position-status");
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = button.dataset.locating;
    navigator.geolocation.getCurrentPosition(function (position) {
      document.getElementById("lat").value = position.coords.latitude.toFixed(7);
      document.getElementById("lon").value = position.coords.longitude.toFixed(7);
      status.textContent = "±" + Math.round(position.coords.accuracy) + " m";
    }, function () {
      status.textContent = button.dataset.failed;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  });
})();
