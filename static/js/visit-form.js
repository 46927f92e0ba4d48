// The visit form: a fresh visit id when the form opens, the phone's location, one save per tap.
(function () {
  "use strict";
  var form = document.getElementById("visit-form");
  if (!form) return;
  var field = function (name) { return form.elements.namedItem(name); };
  var status = document.getElementById("location-status");
  var lang = document.documentElement.lang === "en" ? "en" : "zh";
  var text = {
    zh: { locating: "正在获取位置…", accuracy: "已定位 ±{m} 米", denied: "无法定位：未允许获取位置。可不带位置保存（标记为“无定位”）。",
          unavailable: "无法定位：当前无法获取位置。可不带位置保存（标记为“无定位”）。", timeout: "无法定位：获取位置超时。可不带位置保存（标记为“无定位”）。",
          unsupported: "此浏览器不支持定位。可不带位置保存（标记为“无定位”）。", saving: "正在保存…" },
    en: { locating: "Getting your location…", accuracy: "Location ±{m} m", denied: "No location: permission was refused. The visit can be saved without it (marked \"no location\").",
          unavailable: "No location: the position is unavailable. The visit can be saved without it (marked \"no location\").", timeout: "No location: it took too long. The visit can be saved without it (marked \"no location\").",
          unsupported: "This browser cannot locate. The visit can be saved without it (marked \"no location\").", saving: "Saving…" }
  }[lang];

  function newUuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  // A form shown again after an error keeps its id (the same visit); a freshly opened one gets a new id.
  if (field("uuid").dataset.freshUuid === "yes") field("uuid").value = newUuid();

  function noLocation(reason) {
    field("lat").value = field("lon").value = field("accuracy").value = "";
    field("no_location_reason").value = reason;
    status.textContent = text[reason];
    status.dataset.state = "none";
  }

  function locate() {
    if (!navigator.geolocation) return noLocation("unsupported");
    status.textContent = text.locating;
    status.dataset.state = "locating";
    navigator.geolocation.getCurrentPosition(function (position) {
      field("lat").value = position.coords.latitude.toFixed(7);
      field("lon").value = position.coords.longitude.toFixed(7);
      field("accuracy").value = Math.round(position.coords.accuracy * 10) / 10;
      field("no_location_reason").value = "";
      status.textContent = text.accuracy.replace("{m}", Math.round(position.coords.accuracy));
      status.dataset.state = "located";
    }, function (error) {
      noLocation({1: "denied", 2: "unavailable", 3: "timeout"}[error.code] || "unavailable");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }
  document.getElementById("refresh-location").addEventListener("click", locate);
  if (!field("lat").value) locate();

  // "Another request": a copy of the empty request block.
  var blocks = document.getElementById("request-blocks");
  document.getElementById("add-another-request").addEventListener("click", function () {
    var index = blocks.children.length;
    var html = document.getElementById("request-block-template").innerHTML.replace(/__INDEX__/g, index);
    blocks.insertAdjacentHTML("beforeend", html);
    blocks.lastElementChild.querySelector("select").focus();
  });

  form.addEventListener("submit", function (event) {
    if (form.dataset.submitting === "yes") { event.preventDefault(); return; }  // a double tap
    form.dataset.submitting = "yes";
    field("visited_at").value = new Date().toISOString();
    Array.prototype.forEach.call(form.querySelectorAll('input[name="new_uuid"]'), function (input) {
      if (!input.value) input.value = newUuid();
    });
    var button = document.getElementById("save-visit");
    button.setAttribute("aria-busy", "true");
    button.dataset.label = button.textContent;
    button.textContent = text.saving;
  });
  // Back from the history cache after a save: this is a new visit, with a new id.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && form.dataset.submitting === "yes") field("uuid").value = newUuid();
    form.dataset.submitting = "";
  });
})();
