// The map page: cells shaded by coverage and households per building from the map's GeoJSON, clustered
// with supercluster and redrawn on moveend; popups fetched when opened; filters applied without a
// reload; "Locate me". The Leaflet map itself comes from folium's script (/map/setup.js).
(function () {
  "use strict";
  var frame = document.getElementById("map-frame");
  var map = frame && window[frame.dataset.mapName];
  if (!map || !window.L || !window.Supercluster) return;
  var texts = JSON.parse(frame.dataset.texts);
  var icons = JSON.parse(frame.dataset.icons);
  var statusLabels = JSON.parse(frame.dataset.statusLabels);
  var form = document.getElementById("map-filters");
  var summary = document.getElementById("map-summary");
  var message = document.getElementById("map-message");
  var popups = JSON.parse(frame.dataset.popups);  // per kind of feature (c, b, h): its popup's URL before the id
  var css = window.getComputedStyle(document.documentElement);
  var statuses = Object.keys(statusLabels);
  // Cell labels under the markers, so that no label hides a building.
  map.createPane("cellLabels").style.zIndex = 450;
  var cellLayer = L.featureGroup().addTo(map);
  // Cells drawn on one canvas: a district's hundreds of polygons as SVG would slow every pan and zoom.
  var cellRenderer = L.canvas({ padding: 0.5 });
  var labelLayer = L.layerGroup().addTo(map);
  var markerLayer = L.layerGroup().addTo(map);
  var index = null;
  var latest = 0;
  var here = null;

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, key) { return values[key]; });
  }

  function colour(name) {
    return css.getPropertyValue("--status-" + name).trim() || "#555";
  }

  function sum(counts) {
    return counts.reduce(function (a, b) { return a + b; }, 0);
  }

  function mostUrgent(counts) {
    for (var i = 0; i < counts.length; i++) if (counts[i]) return statuses[i];
    return statuses[statuses.length - 1];
  }

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value) params.append(key, value); });
    return params.toString();
  }

  function withQuery(url) {
    var q = query();
    return q ? url + "?" + q : url;
  }

  function say(element, text) {
    element.textContent = text;
  }

  // Leaflet names its buttons in English: name them in the page's language (title and screen readers).
  function nameButton(button, label) {
    if (!button) return;
    button.title = label;
    button.setAttribute("aria-label", label);
  }
  nameButton(frame.querySelector(".leaflet-control-zoom-in"), texts.zoomIn);
  nameButton(frame.querySelector(".leaflet-control-zoom-out"), texts.zoomOut);
  map.on("popupopen", function (event) {
    nameButton(event.popup.getElement().querySelector(".leaflet-popup-close-button"), texts.closePopup);
  });

  // Popups ask the server for their content when opened: no personal data travels with the map.
  function openPopup(latlng, url) {
    var loading = document.createElement("p");
    loading.className = "muted";
    loading.textContent = texts.loading;
    var popup = L.popup({ maxWidth: 320, minWidth: 220, maxHeight: 340, autoPanPadding: [12, 12] })
      .setLatLng(latlng).setContent(loading).openOn(map);
    fetch(withQuery(url), { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) { popup.setContent(html); })
      .catch(function () { loading.textContent = texts.failed; });
  }

  function popupUrl(featureId) {
    return popups[featureId.charAt(0)] + featureId.slice(1);
  }

  function coverageClass(properties) {
    if (!properties.occupied) return "none";
    var ratio = properties.visited / properties.occupied;
    return ratio < 0.6 ? "low" : ratio < 0.9 ? "mid" : "high";
  }

  var COVERAGE_COLOURS = { low: "overdue_request", mid: "due", high: "visited", none: "vacant" };

  function drawCells(features) {
    cellLayer.clearLayers();
    var chosen = form.elements.cell ? form.elements.cell.value : "";
    L.geoJSON(features, {
      renderer: cellRenderer,
      style: function (feature) {
        var c = colour(COVERAGE_COLOURS[coverageClass(feature.properties)]);
        var selected = chosen && feature.id === "c" + chosen;
        return { color: c, weight: selected ? 4 : 2, opacity: 0.9, fillColor: c, fillOpacity: 0.14 };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.label = p.occupied
          ? fill(texts.coverage, { name: p.name, pct: Math.round(100 * p.visited / p.occupied) + "%",
                                   tried: Math.round(100 * p.attempted / p.occupied) + "%" })
          : fill(texts.noHouseholds, { name: p.name });
        layer.on("click", function (event) { openPopup(event.latlng, popupUrl(feature.id)); });
        cellLayer.addLayer(layer);
      }
    });
  }

  // Labels only for the cells on screen that are wide enough to hold one: a district has hundreds of
  // cells, and a label per cell would cost the browser seconds of layout.
  function showLabels() {
    labelLayer.clearLayers();
    var view = map.getBounds();
    cellLayer.eachLayer(function (layer) {
      var bounds = layer.getBounds();
      if (!view.intersects(bounds)) return;
      var width = map.latLngToContainerPoint(bounds.getNorthEast()).x -
                  map.latLngToContainerPoint(bounds.getSouthWest()).x;
      if (width < 90) return;
      var label = document.createElement("span");
      label.dataset.cell = layer.feature.id;
      label.textContent = layer.label;
      labelLayer.addLayer(L.marker(bounds.getCenter(), {
        pane: "cellLabels", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "cell-label", html: label.outerHTML, iconSize: null })
      }));
    });
  }

  function marker(feature) {
    var p = feature.properties;
    var counts = p.n;
    var status = mostUrgent(counts);
    var households = sum(counts);
    var kind = p.cluster ? "cluster" : feature.id.charAt(0);
    var title = kind === "cluster"
      ? fill(texts.cluster, { n: households, points: p.point_count, status: statusLabels[status] })
      : kind === "b" ? fill(texts.building, { n: households, status: statusLabels[status] })
      : fill(texts.house, { status: statusLabels[status] });
    var size = kind === "cluster" ? [60, 60] : kind === "b" ? [60, 44] : [44, 44];
    var icon = L.divIcon({
      className: "map-marker kind-" + kind + " status-" + status, iconSize: size,
      html: '<span class="marker-icon" aria-hidden="true">' + icons[status] + "</span>" +
            (kind === "h" ? "" : "<b>" + households + "</b>")
    });
    var latlng = L.latLng(feature.geometry.coordinates[1], feature.geometry.coordinates[0]);
    var item = L.marker(latlng, { icon: icon, title: title, keyboard: true, riseOnHover: true });
    item.on("add", function () { item.getElement().setAttribute("aria-label", title); });
    item.on("click", function () {
      if (kind === "cluster") {
        map.setView(latlng, Math.min(index.getClusterExpansionZoom(p.cluster_id), map.getMaxZoom()));
      } else {
        openPopup(latlng, popupUrl(feature.id));
      }
    });
    return item;
  }

  // Only what is on screen is drawn: supercluster answers per view in a few milliseconds. Clusters of the
  // zoom level below a fractional zoom: markers stay at least the cluster radius apart.
  function redraw() {
    if (!index) return;
    var b = map.getBounds();
    var found = index.getClusters([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], Math.floor(map.getZoom()));
    markerLayer.clearLayers();
    found.forEach(function (feature) { markerLayer.addLayer(marker(feature)); });
    showLabels();
  }

  function draw(collection) {
    statuses = collection.statuses || statuses;
    var cells = [], points = [], buildings = 0, houses = 0;
    collection.features.forEach(function (feature) {
      if (feature.geometry.type === "Point") {
        points.push(feature);
        if (feature.id.charAt(0) === "b") buildings++; else houses++;
      } else {
        cells.push(feature);
      }
    });
    drawCells(cells);
    index = new window.Supercluster({
      // Leaflet's 256-px tiles: points closer than 56 px merge. Below zoom 11 a sub-district is a few
      // clusters anyway, so those levels are not built (a third of the time to load 17,000 points).
      extent: 256, radius: 56, minZoom: 11, maxZoom: 17,
      map: function (properties) { return { n: properties.n.slice() }; },
      reduce: function (total, properties) {
        for (var i = 0; i < total.n.length; i++) total.n[i] += properties.n[i];
      }
    });
    index.load(points);
    redraw();
    var text = collection.households
      ? fill(texts.summary, { households: collection.households, buildings: buildings, houses: houses })
      : texts.empty;
    if (collection.unplaced) text += " " + fill(texts.unplaced, { n: collection.unplaced });
    say(summary, text);
    frame.dataset.ready = "true";
  }

  function load() {
    var mine = ++latest;
    frame.dataset.ready = "false";
    say(summary, texts.loading);
    // Same URL and mode as the page's <link rel="preload">: the first load is already on its way.
    fetch(withQuery(frame.dataset.dataBase), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (collection) { if (mine === latest) draw(collection); })
      .catch(function () { if (mine === latest) say(summary, texts.failed); });
  }

  function applyFilters(event) {
    if (event) event.preventDefault();
    var q = query();
    window.history.replaceState(null, "", q ? "?" + q : window.location.pathname);
    var notices = document.getElementById("map-notices");
    notices.querySelectorAll('[role="status"]').forEach(function (notice) { notice.remove(); });
    map.closePopup();
    load();
  }

  // The phone gives WGS-84; on GCJ-02 tiles the server says where that is drawn.
  function drawnAt(lon, lat) {
    if (frame.dataset.tiles !== "gaode") return Promise.resolve(L.latLng(lat, lon));
    return fetch(frame.dataset.shiftUrl + "?lon=" + lon + "&lat=" + lat, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (point) { return L.latLng(point.lat, point.lon); });
  }

  function locate() {
    if (!navigator.geolocation) { say(message, texts.notLocated); return; }
    say(message, texts.locating);
    navigator.geolocation.getCurrentPosition(function (position) {
      var coords = position.coords;
      drawnAt(coords.longitude, coords.latitude).then(function (latlng) {
        if (here) here.remove();
        here = L.layerGroup([
          L.circle(latlng, { radius: coords.accuracy, color: "#0b57d0", weight: 1, fillOpacity: 0.1, interactive: false }),
          L.circleMarker(latlng, { radius: 8, color: "#fff", weight: 3, fillColor: "#0b57d0", fillOpacity: 1,
                                   className: "you-are-here" })
        ]).addTo(map);
        map.setView(latlng, Math.max(map.getZoom(), 17));
        say(message, fill(texts.located, { m: Math.round(coords.accuracy) }));
      }).catch(function () { say(message, texts.notLocated); });
    }, function () { say(message, texts.notLocated); },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }

  form.addEventListener("change", applyFilters);
  form.addEventListener("submit", applyFilters);
  document.getElementById("locate-me").addEventListener("click", locate);
  map.on("moveend", redraw);
  load();
})();
