// The map page: cells shaded by coverage and households per building, read and clustered in a Web Worker
// (static/js/map-worker.js, started by map-start.js) that answers the markers of the view on moveend; popups
// fetched when opened; filters applied without a reload (only the markers change); "Locate me". The Leaflet map
// itself comes from folium's script (/map/setup.js).
(function () {
  "use strict";
  var frame = document.getElementById("map-frame");
  var map = frame && window[frame.dataset.mapName];
  if (!map || !window.L) return;
  var worker = null;
  var started = null;  // map-start.js's window.fieldappMap
  var texts = JSON.parse(frame.dataset.texts);
  var icons = JSON.parse(frame.dataset.icons);
  var statusLabels = JSON.parse(frame.dataset.statusLabels);
  var form = document.getElementById("map-filters");
  var summary = document.getElementById("map-summary");
  var message = document.getElementById("map-message");
  var popups = JSON.parse(frame.dataset.popups);  // per kind of place (c, b, h): its popup's URL before the id
  var css = window.getComputedStyle(document.documentElement);
  var statuses = Object.keys(statusLabels);
  // Cell labels under the markers, so that no label hides a building.
  map.createPane("cellLabels").style.zIndex = 450;
  var cellLayer = L.layerGroup().addTo(map);
  // Cells drawn on one canvas: a district's hundreds of polygons as SVG would slow every pan and zoom.
  var cellRenderer = L.canvas({ padding: 0.5 });
  var labelLayer = L.layerGroup().addTo(map);
  var markerLayer = L.layerGroup().addTo(map);
  var shown = {};  // the markers on the map by key (map-worker.js): a marker that stays is not drawn again
  var zooms = [0];  // the lowest zoom of each band of the cells' outlines
  var band = -1;
  var styledFor = null;  // the cell filter the cells are drawn for
  var loaded = null;  // the filter query whose data the worker holds and the markers show
  var latest = 0;
  var here = null;

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, key) { return values[key]; });
  }

  // Read once per status: each read of the computed style may make the browser recompute the page's styles.
  var colours = {};
  function colour(name) {
    if (!(name in colours)) colours[name] = css.getPropertyValue("--status-" + name).trim() || "#555";
    return colours[name];
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

  function coverageClass(cell) {
    if (!cell.occupied) return "none";
    var ratio = cell.visited / cell.occupied;
    return ratio < 0.6 ? "low" : ratio < 0.9 ? "mid" : "high";
  }

  var COVERAGE_COLOURS = { low: "overdue_request", mid: "due", high: "visited", none: "vacant" };

  function bandOf(zoom) {
    var found = 0;
    for (var i = 0; i < zooms.length; i++) if (zoom >= zooms[i]) found = i;
    return found;
  }

  function chosenCell() {
    return form.elements.cell ? form.elements.cell.value : "";
  }

  function cellStyle(cell, chosen) {
    var c = colour(COVERAGE_COLOURS[coverageClass(cell)]);
    return { color: c, weight: chosen && String(cell.id) === chosen ? 4 : 2, opacity: 0.9, fillColor: c,
             fillOpacity: 0.14 };
  }

  // The cells once per version of the data (the filters do not change them), each outline as simplified for
  // the zoom band on screen.
  function drawCells(cells) {
    cellLayer.clearLayers();
    styledFor = chosenCell();
    zooms = cells.zooms;
    band = bandOf(map.getZoom());
    cells.list.forEach(function (cell) {
      var layer = L.polygon(cell.outlines[band], L.extend({ renderer: cellRenderer }, cellStyle(cell, styledFor)));
      layer.cell = cell;
      layer.label = cell.occupied
        ? fill(texts.coverage, { name: cell.name, pct: Math.round(100 * cell.visited / cell.occupied) + "%",
                                 tried: Math.round(100 * cell.attempted / cell.occupied) + "%" })
        : fill(texts.noHouseholds, { name: cell.name });
      layer.on("click", function (event) { openPopup(event.latlng, popups.c + cell.id); });
      cellLayer.addLayer(layer);
    });
  }

  // Only the cell filter changes how the cells look.
  function restyleCells() {
    if (chosenCell() === styledFor) return;
    styledFor = chosenCell();
    cellLayer.eachLayer(function (layer) { layer.setStyle(cellStyle(layer.cell, styledFor)); });
  }

  // A new zoom band: the outlines of that band, where they differ from the band before.
  function outlineCells() {
    var now = bandOf(map.getZoom());
    if (now === band) return;
    cellLayer.eachLayer(function (layer) {
      var outlines = layer.cell.outlines;
      if (outlines[now] !== outlines[band]) layer.setLatLngs(outlines[now]);
    });
    band = now;
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
      label.dataset.cell = "c" + layer.cell.id;
      label.textContent = layer.label;
      labelLayer.addLayer(L.marker(bounds.getCenter(), {
        pane: "cellLabels", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "cell-label", html: label.outerHTML, iconSize: null })
      }));
    });
  }

  function marker(found) {
    var counts = found.n;
    var status = mostUrgent(counts);
    var households = sum(counts);
    var kind = found.kind;
    var title = kind === "cluster"
      ? fill(texts.cluster, { n: households, points: found.points, status: statusLabels[status] })
      : kind === "b" ? fill(texts.building, { n: households, status: statusLabels[status] })
      : fill(texts.house, { status: statusLabels[status] });
    var size = kind === "cluster" ? [60, 60] : kind === "b" ? [60, 44] : [44, 44];
    var icon = L.divIcon({
      className: "map-marker kind-" + kind + " status-" + status, iconSize: size,
      html: '<span class="marker-icon" aria-hidden="true">' + icons[status] + "</span>" +
            (kind === "h" ? "" : "<b>" + households + "</b>")
    });
    var latlng = L.latLng(found.lat, found.lng);
    var item = L.marker(latlng, { icon: icon, title: title, keyboard: true, riseOnHover: true });
    item.on("add", function () { item.getElement().setAttribute("aria-label", title); });
    item.on("click", function () {
      if (kind === "cluster") {
        map.setView(latlng, Math.min(found.expand, map.getMaxZoom()));
      } else {
        openPopup(latlng, popups[kind] + found.id);
      }
    });
    return item;
  }

  // Only what is on screen is drawn: the worker answers per view. Clusters of the zoom level below a
  // fractional zoom: markers stay at least the cluster radius apart.
  function view() {
    var b = map.getBounds();
    return { bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], zoom: Math.floor(map.getZoom()) };
  }

  function redraw() {
    outlineCells();
    showLabels();
    if (loaded === null) return;
    worker.postMessage(L.extend({ type: "clusters", request: latest, query: loaded }, view()));
  }

  // The view's markers: those already on the map stay, the others are swapped.
  function swapMarkers(markers) {
    var next = {};
    markers.forEach(function (found) {
      next[found.key] = shown[found.key] || marker(found);
    });
    Object.keys(shown).forEach(function (key) {
      if (!next[key]) markerLayer.removeLayer(shown[key]);
    });
    Object.keys(next).forEach(function (key) {
      if (!shown[key]) markerLayer.addLayer(next[key]);
    });
    shown = next;
  }

  // A load's answer carries the markers of the view it was told (map.js tells the view as soon as it runs).
  function loadedData(answer) {
    statuses = answer.statuses || statuses;
    restyleCells();
    loaded = answer.query;
    var s = answer.summary;
    var text = s.households
      ? fill(texts.summary, { households: s.households, buildings: s.buildings, houses: s.houses })
      : texts.empty;
    if (s.unplaced) text += " " + fill(texts.unplaced, { n: s.unplaced });
    say(summary, text);
    if (!answer.markers) {  // read before this page told its view
      redraw();
      return;
    }
    outlineCells();
    showLabels();
    swapMarkers(answer.markers);
    frame.dataset.ready = "true";
  }

  function heard(answer) {
    // The cells are drawn whichever load they came with: the worker sends each version once.
    if (answer.type === "cells") drawCells(answer.cells);
    if (answer.request !== undefined && answer.request !== latest) return;  // a later filter is on its way
    if (answer.type === "failed") {
      say(summary, texts.failed);
    } else if (answer.type === "data") {
      loadedData(answer);
    } else if (answer.type === "clusters" && answer.query === loaded) {
      swapMarkers(answer.markers);
      frame.dataset.ready = "true";
    }
  }

  // map-start.js fetches the data of the filters and the worker reads it; this page only draws what it answers.
  function load() {
    latest++;
    frame.dataset.ready = "false";
    say(summary, texts.loading);
    started.load(latest, query(), withQuery(frame.dataset.dataBase), view());
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

  // map-start.js has the worker and the first load going already (or starts them once it has run).
  function begin(starter) {
    started = starter;
    worker = started.worker;
    latest = started.request;
    frame.dataset.ready = "false";
    say(summary, texts.loading);
    worker.onerror = function () { say(summary, texts.failed); };
    worker.postMessage(L.extend({ type: "view" }, view()));  // for the first load's markers
    started.listen(heard);
    form.addEventListener("change", applyFilters);
    form.addEventListener("submit", applyFilters);
    map.on("moveend", redraw);
  }

  document.getElementById("locate-me").addEventListener("click", locate);
  if (!window.Worker) say(summary, texts.failed);
  else if (window.fieldappMap) begin(window.fieldappMap);
  else window.fieldappMapStarted = begin;
})();
