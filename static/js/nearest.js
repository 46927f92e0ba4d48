// "Nearest first": ask the phone where it is, then load the list ordered by distance.
(function () {
  "use strict";
  var link = document.getElementById("nearest-first");
  var message = document.getElementById("locate-message");
  if (!link) return;
  var lang = document.documentElement.lang === "en" ? "en" : "zh";
  var text = {
    zh: { locating: "正在获取位置…", failed: "无法获取您的位置，列表保持按紧急程度排序。" },
    en: { locating: "Getting your location…", failed: "Your location is not available, so the list stays in order of urgency." }
  }[lang];
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
