// "Nearest first": ask the phone where it is, then load the list ordered by distance.
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
      var url = new URL(link.href);
      url.searchParams.set("lat", position.coords.latitude.toFixed(6));
      url.searchParams.set("lon", position.coords.longitude.toFixed(6));
      window.location.assign(url.toString());
    }, function () {
      message.textContent = text.failed;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
})();
