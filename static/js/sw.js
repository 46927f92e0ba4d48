// The service worker: the app shell kept on the phone, pages (and the thumbnails of the member's photos)
// network-first with a short timeout (falling back to the kept pages of offline-copy.js), and the visit queue
// sent in the background where the browser offers Background Sync.
"use strict";
// The cache names, URLs and paths, from the server (fieldapp/pwa.py), as offline-queue.js and offline-copy.js
// read them.
var CONFIG = self.offlineConfig = __CONFIG__;
var NETWORK_TIMEOUT_MS = 4000;

importScripts.apply(self, CONFIG.scripts);

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CONFIG.shellCache).then(function (cache) { return cache.addAll(CONFIG.shell); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(CONFIG.shellCachePrefix) === 0 && name !== CONFIG.shellCache;
    }).map(function (name) { return caches.delete(name); }));
  }).then(self.keptPages.dropUnbound).then(function () { return self.clients.claim(); }));
});

// Network first; after a short wait, or when the network fails, the kept copy; else the offline page.
// A page the server marks as part of the offline copy refreshes its kept copy; nothing else is kept.
function networkFirst(event) {
  var request = event.request;
  var network = fetch(request).then(function (response) {
    // Only a marked answer is cloned: a copy of a large export nobody reads would be held in memory.
    var page = request.mode === "navigate" || new URL(request.url).pathname.indexOf(CONFIG.photosPrefix) === 0;
    if (page && response.headers.get(CONFIG.keepHeader) === "1") {
      event.waitUntil(self.keptPages.keep(request, response.clone()));
    }
    return response;
  });
  var kept = function () { return self.keptPages.match(request); };
  var timeout = new Promise(function (resolve) {
    setTimeout(function () { kept().then(function (hit) { if (hit) resolve(hit); }); }, NETWORK_TIMEOUT_MS);
  });
  var fallback = network.catch(function () {
    return kept().then(function (hit) {
      if (hit) return hit;
      if (request.mode === "navigate") return caches.match(CONFIG.offline);
      return Response.error();
    });
  });
  return Promise.race([fallback, timeout]);
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.indexOf(CONFIG.apiPrefix) === 0 || url.pathname === CONFIG.serviceWorker) return;
  // Photos: network first, and kept only where the server marks the answer, which it does for the thumbnails
  // of a member's own households alone: a full photo is never kept (each view checked and audited).
  if (url.pathname.indexOf(CONFIG.photosPrefix) === 0) {
    event.respondWith(networkFirst(event));
    return;
  }
  if (url.pathname.indexOf(CONFIG.staticPrefix) === 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
    return;
  }
  if (request.mode === "navigate" || request.headers.get("HX-Request")) {
    event.respondWith(networkFirst(event));
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag === CONFIG.syncTag) event.waitUntil(self.offlineQueue.send());
});

// "Prepare for offline" is done here, not in the page: hundreds of fetches and cache writes would keep the
// phone's main thread (scrolling, taps) busy just when the member starts working. The pages hear how far it
// got; one copy at a time (a second request joins the running one).
var preparing = null;

function tell(message) {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (clients) {
    clients.forEach(function (client) { client.postMessage(message); });
  });
}

function prepareOffline() {
  if (preparing) return preparing;
  preparing = self.offlineCopy(function (done, total) { tell({ type: "offline-progress", done: done, total: total }); })
    .then(function (copy) { return tell({ type: "offline-prepared", at: copy.at, pages: copy.pages }); })
    .catch(function () { return tell({ type: "offline-failed" }); })
    .then(function () { preparing = null; });
  return preparing;
}

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "send-visits") event.waitUntil(self.offlineQueue.send());
  if (event.data && event.data.type === "prepare-offline") event.waitUntil(prepareOffline());
});
