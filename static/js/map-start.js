// Starts the map's worker (static/js/map-worker.js) and the first load of its data as soon as the page has its
// map frame, before Leaflet and map.js have run: the data (preloaded by the page) and the worker's scripts come
// meanwhile. map.js takes the worker over, with what it has answered so far, and loads through here too.
(function () {
  "use strict";
  var frame = document.getElementById("map-frame");
  if (!frame || !window.Worker || window.fieldappMap) return;
  var worker = new Worker(frame.dataset.worker);
  var early = [], listener = null;

  function deliver(answer) {
    if (listener) listener(answer); else early.push(answer);
  }

  worker.onmessage = function (event) { deliver(event.data); };
  worker.postMessage({ type: "init", supercluster: frame.dataset.supercluster });

  // The data of a filter query, fetched here and handed to the worker unread (the buffer is moved, not copied).
  function load(request, query, url, view) {
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        var etag = response.headers.get("ETag");
        return response.arrayBuffer().then(function (buffer) {
          var message = { type: "load", request: request, query: query, etag: etag, buffer: buffer };
          for (var name in view || {}) message[name] = view[name];
          worker.postMessage(message, [buffer]);
        });
      })
      .catch(function (error) { deliver({ type: "failed", request: request, error: String(error) }); });
  }

  window.fieldappMap = {
    worker: worker,
    request: 1,
    load: load,
    listen: function (take) {
      listener = take;
      early.splice(0).forEach(take);
    }
  };
  // Same URL and mode as the page's <link rel="preload">: the first load is already on its way.
  load(1, frame.dataset.query, frame.dataset.dataUrl);
  if (window.fieldappMapStarted) window.fieldappMapStarted(window.fieldappMap);
})();
