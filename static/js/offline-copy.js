// "Prepare for offline": keep the member's list, each household's page and each visit form (the offline
// manifest) in the pages cache. Loaded by the service worker (importScripts), which makes the copy off the
// page's main thread, and by the pages, which make it themselves only where there is no service worker.
(function (root) {
  "use strict";
  var PAGES_CACHE = "fieldapp-pages";
  var PROGRESS_MS = 500;  // "n of m" at most twice a second: each change repaints a long list
  var PARALLEL = 4;

  // Copy every page of the manifest; onProgress(done, total) now and then. Resolves {at, pages}, rejects on
  // the first page that cannot be kept (a redirect means the session is gone).
  root.offlineCopy = function (onProgress) {
    return fetch("/api/offline-manifest", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (manifest) {
        return caches.open(PAGES_CACHE).then(function (cache) {
          var done = 0, next = 0, told = 0, total = manifest.urls.length;
          function worker() {
            if (next >= total) return Promise.resolve();
            var url = manifest.urls[next++];
            return fetch(url, { credentials: "same-origin" }).then(function (response) {
              if (!response.ok || response.redirected) throw new Error(url);
              return cache.put(url, response);
            }).then(function () {
              done += 1;
              if (Date.now() - told >= PROGRESS_MS) { told = Date.now(); onProgress(done, total); }
              return worker();
            });
          }
          var workers = [];
          for (var i = 0; i < PARALLEL; i++) workers.push(worker());
          return Promise.all(workers).then(function () { return { at: new Date().toISOString(), pages: total }; });
        });
      });
  };
})(self);
