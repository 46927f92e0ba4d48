// The kept pages: what the phone holds for work without signal, and for whom. "Prepare for offline" keeps the
// member's list, each household's page and each visit form, and the thumbnails of their photos (the offline
// manifest); the server marks each page it lets the phone keep (X-Offline-Keep) with the session it was made
// for (X-Offline-Session), and the cache records that session: nothing else is kept, and nothing kept outlives
// its session. Loaded by the service worker (importScripts), which makes the copy off the page's main thread,
// and by the pages, which check the session and make the copy themselves only where there is no service worker.
// Cache name, URL and headers come from the server (root.offlineConfig: see fieldapp/pwa.py).
(function (root) {
  "use strict";
  var config = root.offlineConfig;
  var PAGES_CACHE = config.pagesCache;
  var SESSION_ENTRY = config.sessionEntry;  // the cache entry naming the session the pages are kept for
  var PROGRESS_MS = 500;  // "n of m" at most twice a second: each change repaints a long list
  var PARALLEL = 4;

  function sessionOf(cache) {
    return cache.match(SESSION_ENTRY).then(function (entry) { return entry ? entry.text() : null; });
  }

  // Whether the server let the phone keep response, for session: an HTML page or a photo's thumbnail (a JPEG)
  // it marked, never an attachment.
  function keepable(response, session) {
    var headers = response.headers;
    var type = headers.get("Content-Type") || "";
    return Boolean(session) && response.ok && !response.redirected && response.type === "basic" &&
      headers.get(config.keepHeader) === "1" && headers.get(config.sessionHeader) === session &&
      (type.indexOf("text/html") === 0 || type.indexOf("image/jpeg") === 0) &&
      !/attachment/i.test(headers.get("Content-Disposition") || "");
  }

  // Keep a page met in normal browsing, if the server marked it and the kept pages are its session's.
  // Without a copy there is nothing to refresh; after sign-out the cache is gone (or a new, empty one
  // names no session), so an answer that arrives late is never kept.
  function keep(request, response) {
    return caches.has(PAGES_CACHE).then(function (exists) {
      if (!exists) return false;
      return caches.open(PAGES_CACHE).then(function (cache) {
        return sessionOf(cache).then(function (session) {
          if (!keepable(response, session)) return false;
          return cache.put(request, response).then(function () { return true; });
        });
      });
    });
  }

  // Delete the kept pages if they name another session than session, or whatever they name when nobody is
  // signed in (session null). A cache that names no session holds nothing yet (a copy just begun, which names
  // it next): it is left to that copy. Resolves true if the pages were deleted.
  function keepOnlyFor(session) {
    return keptFor().then(function (keptSession) {
      if (keptSession === undefined || (session && (keptSession === null || keptSession === session))) return false;
      return caches.delete(PAGES_CACHE).then(function () { return true; });
    });
  }

  // Pages kept by an older version, which named no session: deleted when this service worker takes over.
  function dropUnbound() {
    return keptFor().then(function (keptSession) {
      return keptSession === null ? caches.delete(PAGES_CACHE) : false;
    });
  }

  // The session the kept pages belong to; null if the cache names none, undefined if there is no cache.
  function keptFor() {
    return caches.has(PAGES_CACHE).then(function (exists) {
      return exists ? caches.open(PAGES_CACHE).then(sessionOf) : undefined;
    });
  }

  // The cache for session's copy: another session's pages are deleted first, and what is no longer in the
  // manifest (a household of a cell the member left) is removed.
  function cacheFor(manifest) {
    return keptFor().then(function (keptSession) {
      if (keptSession !== undefined && keptSession !== manifest.session) return caches.delete(PAGES_CACHE);
    }).then(function () { return caches.open(PAGES_CACHE); }).then(function (cache) {
      var wanted = {};
      copied(manifest).forEach(function (url) { wanted[new URL(url, root.location.href).href] = true; });
      return cache.put(SESSION_ENTRY, new Response(manifest.session)).then(function () { return cache.keys(); })
        .then(function (requests) {
          return Promise.all(requests.filter(function (request) {
            return !wanted[request.url] && new URL(request.url).pathname !== SESSION_ENTRY;
          }).map(function (request) { return cache.delete(request); }));
        }).then(function () { return cache; });
    });
  }

  // What a copy keeps: the manifest's pages, then the thumbnails of its households' photos.
  function copied(manifest) { return manifest.urls.concat(manifest.thumbnails || []); }

  // Copy every page of the manifest; onProgress(done, total) now and then. Resolves {at, pages}, rejects on
  // the first page that cannot be kept (a redirect means the session is gone).
  function copy(onProgress) {
    return fetch(config.manifest, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
      .then(function (manifest) {
        return cacheFor(manifest).then(function (cache) {
          var urls = copied(manifest);
          var done = 0, next = 0, told = 0, total = urls.length;
          function worker() {
            if (next >= total) return Promise.resolve();
            var url = urls[next++];
            // The token makes these fetches part of the copy's one audit entry; only the server checks it.
            var headers = {};
            headers[config.copyHeader] = manifest.token;
            return fetch(url, { credentials: "same-origin", headers: headers })
              .then(function (response) {
                if (!keepable(response, manifest.session)) throw new Error(url);
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
  }

  // A kept page for request (never the session entry), or undefined; looking never creates the cache.
  function match(request) {
    if (new URL(request.url).pathname === SESSION_ENTRY) return Promise.resolve(undefined);
    return caches.match(request, { cacheName: PAGES_CACHE }).then(function (hit) {
      return hit || caches.match(request, { cacheName: PAGES_CACHE, ignoreSearch: true });
    });
  }

  root.offlineCopy = copy;
  root.keptPages = { keep: keep, keepOnlyFor: keepOnlyFor, dropUnbound: dropUnbound, match: match, CACHE: PAGES_CACHE };
})(self);
