// Starts the map's worker (static/js/map-worker.js) and its first load as soon as the page has its map frame,
// before Leaflet and map.js have run: the data comes and its clusters are built meanwhile. map.js takes the
// worker over, with what it has answered so far.
(function () {
  "use strict";
  var frame = document.getElementById("map-frame");
  if (!frame || !window.Worker || window.fieldappMap) return;
  var worker = new Worker(frame.dataset.worker);
  var early = [], listener = null;
  worker.onmessage = function (event) {
    if (listener) listener(event); else early.push(event);
  };
  worker.postMessage({ type: "init", supercluster: frame.dataset.supercluster });
  worker.postMessage({ type: "load", request: 1, query: frame.dataset.query, url: frame.dataset.dataUrl });
  window.fieldappMap = {
    worker: worker,
    request: 1,
    listen: function (take) {
      listener = take;
      early.splice(0).forEach(take);
    }
  };
  if (window.fieldappMapStarted) window.fieldappMapStarted(window.fieldappMap);
})();
