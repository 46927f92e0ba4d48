// The map's Web Worker: reads the map's columns (fieldapp/geo.py map_columns), clusters the buildings and houses
// with supercluster, and answers the page (static/js/map.js) with the clusters of a view. Reading 17,000 points
// and building their clusters takes the browser hundreds of milliseconds: here the page's main thread (panning,
// taps) is not held up by it.
//
// Messages from the page (static/js/map-start.js starts the worker and its first load):
//   {type: "init", supercluster: URL of the vendored script}
//   {type: "view", bbox: [west, south, east, north], zoom}: the page's view, for the markers of the next answer
//   {type: "load", request, query, etag, buffer, bbox?, zoom?}: the map data of a filter query (an ArrayBuffer,
//     moved here unread by map-start.js) and its ETag; answered {type:
//     "cells", request, cells} first where the cells are not those last sent (the page draws them while the
//     clusters are built), then {type: "data", request, query, statuses, summary, markers (of the view; null before one was told)}, or
//     {type: "failed", request}
//   {type: "clusters", request, query, bbox, zoom}: answered {type: "clusters", request, query, markers:
//     [{key, kind ("cluster", "b", "h"), id, lat, lng, n, points, expand}]}
"use strict";

var KEPT = 4;  // filters' indexes kept, so that going back to a filter just seen costs no reading
var indexes = [];  // {query, etag, index}, most recent last
var sentCells = null;  // the cellsVersion whose cells the page has
var view = null;  // the page's last view: {bbox, zoom}

function decode(deltas) {
  var total = 0, out = new Array(deltas.length);
  for (var i = 0; i < deltas.length; i++) out[i] = total += deltas[i];
  return out;
}

// A cell's outline per zoom band as Leaflet latlngs: polygons of rings of [lat, lng]. A band that repeats the
// finer one is the same array, so that the page sees when an outline does not change between bands.
function outlines(table, i, scale) {
  var bands = table.outlines, found = new Array(bands.length), finer = null;
  for (var band = bands.length - 1; band >= 0; band--) {
    var polygons = bands[band][i];
    if (polygons) {
      finer = polygons.map(function (rings) {
        return rings.map(function (ring) {
          var lngs = decode(ring[0]), lats = decode(ring[1]), latlngs = new Array(lngs.length);
          for (var k = 0; k < lngs.length; k++) latlngs[k] = [lats[k] / scale, lngs[k] / scale];
          return latlngs;
        });
      });
    }
    found[band] = finer;
  }
  return found;
}

function readCells(data) {
  var table = data.cells, cells = new Array(table.id.length);
  for (var i = 0; i < cells.length; i++) {
    cells[i] = { id: table.id[i], code: table.code[i], name: table.name[i], occupied: table.occupied[i],
                 visited: table.visited[i], attempted: table.attempted[i],
                 outlines: outlines(table, i, data.scale) };
  }
  return { zooms: table.zooms, list: cells };
}

function build(data) {
  var columns = data.points, width = data.statuses.length, scale = data.scale;
  var ids = decode(columns.id), lngs = decode(columns.lon), lats = decode(columns.lat);
  var points = new Array(ids.length);
  for (var i = 0; i < ids.length; i++) {
    points[i] = { type: "Feature", geometry: { type: "Point", coordinates: [lngs[i] / scale, lats[i] / scale] },
                  properties: { k: i < columns.buildings ? "b" : "h", i: ids[i],
                                n: columns.counts.slice(i * width, (i + 1) * width) } };
  }
  var index = new self.Supercluster({
    // Leaflet's 256-px tiles: points closer than 56 px merge. Below zoom 11 a sub-district is a few
    // clusters anyway, so those levels are not built (a third of the time to load 17,000 points).
    extent: 256, radius: 56, minZoom: 11, maxZoom: 17,
    map: function (properties) { return { n: properties.n.slice() }; },
    reduce: function (total, properties) {
      for (var j = 0; j < total.n.length; j++) total.n[j] += properties.n[j];
    }
  });
  index.load(points);
  return { index: index, summary: { households: data.households, buildings: columns.buildings,
                                    houses: ids.length - columns.buildings, unplaced: data.unplaced } };
}

function kept(query) {
  for (var i = 0; i < indexes.length; i++) if (indexes[i].query === query) return indexes[i];
  return null;
}

function remember(entry) {
  indexes = indexes.filter(function (other) { return other.query !== entry.query; });
  indexes.push(entry);
  if (indexes.length > KEPT) indexes.shift();
}

function answer(message, entry) {
  postMessage({ type: "data", request: message.request, query: message.query, statuses: entry.statuses,
                summary: entry.summary, markers: view ? markers(entry, view.bbox, view.zoom) : null });
}

// The same ETag as the index kept for the query: nothing changed, nothing to read again.
function read(message, etag, text) {
  var entry = kept(message.query);
  if (entry && etag && entry.etag === etag) {
    remember(entry);
    answer(message, entry);
    return;
  }
  var data = JSON.parse(text);
  if (data.cellsVersion !== sentCells) {
    postMessage({ type: "cells", request: message.request, cells: readCells(data) });
    sentCells = data.cellsVersion;
  }
  entry = { query: message.query, etag: etag, statuses: data.statuses };
  var built = build(data);
  entry.index = built.index;
  entry.summary = built.summary;
  remember(entry);
  answer(message, entry);
}

function load(message) {
  read(message, message.etag, new TextDecoder().decode(message.buffer));
}

function markers(entry, bbox, zoom) {
  return entry.index.getClusters(bbox, zoom).map(function (feature) {
    var p = feature.properties, at = feature.geometry.coordinates;
    var kind = p.cluster ? "cluster" : p.k, id = p.cluster ? p.cluster_id : p.i;
    var expand = p.cluster ? entry.index.getClusterExpansionZoom(p.cluster_id) : null;
    return { key: kind + id + "@" + at[1] + "," + at[0] + ":" + p.n.join(",") + ":" + expand, kind: kind, id: id,
             lat: at[1], lng: at[0], n: p.n, points: p.point_count || 1, expand: expand };
  });
}

function clusters(message) {
  var entry = kept(message.query);
  view = { bbox: message.bbox, zoom: message.zoom };
  if (entry) {
    postMessage({ type: "clusters", request: message.request, query: message.query,
                  markers: markers(entry, message.bbox, message.zoom) });
  }
}

self.onmessage = function (event) {
  var message = event.data;
  try {
    if (message.type === "init") importScripts(message.supercluster);
    else if (message.type === "view") view = { bbox: message.bbox, zoom: message.zoom };
    else if (message.type === "load") {
      if (message.bbox) view = { bbox: message.bbox, zoom: message.zoom };
      load(message);
    }
    else if (message.type === "clusters") clusters(message);
  } catch (error) {
    postMessage({ type: "failed", request: message.request, query: message.query, error: String(error) });
  }
};
