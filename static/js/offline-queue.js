// The offline queue: visits kept in IndexedDB until the server has them (created or already had), and their
// photos, kept apart and sent one by one once the server has their visit.
// Loaded by the pages and by the service worker (importScripts), so both send the same way; the URLs come from
// the server (root.offlineConfig: see fieldapp/pwa.py).
(function (root) {
  "use strict";
  var config = root.offlineConfig;
  var DB_NAME = "fieldapp";
  var STORE = "visits";
  var PHOTOS = "photos";
  var BATCH = 50;
  var CHANGES = 100;  // fieldapp/registerform.py MAX_CHANGES
  var TIMEOUT_MS = 20000;
  var PHOTO_TIMEOUT_MS = 180000;  // a 300 KB photo on one bar of signal (~2 KB/s) still gets through
  var RETRY_MS = 2000;
  var dbPromise = null;

  function database() {
    if (!dbPromise) {
      // Version 2 adds the photos, in the same database so that one upgrade serves the pages and the worker.
      dbPromise = root.idb.openDB(DB_NAME, 2, {
        upgrade: function (db, oldVersion) {
          if (oldVersion < 1) db.createObjectStore(STORE, { keyPath: "uuid" }).createIndex("household", "household_id");
          if (oldVersion < 2) db.createObjectStore(PHOTOS, { keyPath: ["visit_uuid", "sha256"] }).createIndex("visit", "visit_uuid");
        },
        // A page or worker of a newer version waits for this connection: let it go (reopened on next use).
        blocking: function (currentVersion, blockedVersion, event) { event.target.close(); dbPromise = null; }
      });
    }
    return dbPromise;
  }

  function changed() {
    if (root.document) {
      root.dispatchEvent(new CustomEvent("queue-changed"));
    } else if (root.clients) {
      root.clients.matchAll({ includeUncontrolled: true }).then(function (clients) {
        clients.forEach(function (client) { client.postMessage({ type: "queue-changed" }); });
      });
    }
  }

  // item: {uuid, household_id, user_id, payload (the API's visit object), state, errors, queued_at, label}; a
  // register change made on its own has type "change" and the API's change object as its payload.
  function put(item) {
    return database().then(function (db) { return db.put(STORE, item); }).then(function () { changed(); return item; });
  }
  function all() { return database().then(function (db) { return db.getAll(STORE); }); }
  function get(uuid) { return database().then(function (db) { return db.get(STORE, uuid); }); }
  function remove(uuid) {
    return database().then(function (db) { return db.delete(STORE, uuid); }).then(changed);
  }
  function forHousehold(householdId) {
    return database().then(function (db) { return db.getAllFromIndex(STORE, "household", householdId); });
  }

  // photo: {visit_uuid, sha256, household_id, user_id, caption, blob (the shrunk JPEG), size, taken_at, state
  // ("waiting" or "rejected": then the blob is dropped and errors say why), errors, queued_at}.
  function putPhoto(photo) {
    return database().then(function (db) { return db.put(PHOTOS, photo); }).then(function () { changed(); return photo; });
  }
  function photos() { return database().then(function (db) { return db.getAll(PHOTOS); }); }
  function photosOf(visitUuid) {
    return database().then(function (db) { return db.getAllFromIndex(PHOTOS, "visit", visitUuid); });
  }
  function removePhoto(photo) {
    return database().then(function (db) { return db.delete(PHOTOS, [photo.visit_uuid, photo.sha256]); }).then(changed);
  }
  // A visit given up by the member, with its photos.
  function discard(uuid) {
    return photosOf(uuid).then(function (kept) {
      return Promise.all(kept.map(removePhoto));
    }).then(function () { return remove(uuid); });
  }

  function fetchWithTimeout(url, options) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    options = Object.assign({ credentials: "same-origin", cache: "no-store", signal: controller.signal }, options);
    return fetch(url, options).finally(function () { clearTimeout(timer); });
  }

  // Send the signed-in user's waiting visits. Resolves {sent, results, signedOut, offline, session,
  // photosSent}, session being the server's answer to config.session (absent when it could not be asked).
  function sendNow() {
    var report = { sent: 0, results: {}, signedOut: false, offline: false, photosSent: 0 };
    return fetchWithTimeout(config.session).then(function (response) { return response.json(); })
      .then(function (session) {
        report.session = session;
        if (!session.user) { report.signedOut = true; return report; }
        return all().then(function (items) {
          var mine = items.filter(function (item) { return item.user_id === session.user.id && item.state === "waiting"; });
          // At most BATCH visits and CHANGES register changes a batch, as the server takes them.
          var batches = [], size = 0;
          mine.forEach(function (item) {
            var changes = item.type === "change" ? 1 : (item.payload.changes || []).length;
            var last = batches[batches.length - 1];
            if (!last || last.length >= BATCH || size + changes > CHANGES) { batches.push(last = []); size = 0; }
            last.push(item);
            size += changes;
          });
          return batches.reduce(function (previous, batch) {
            return previous.then(function () { return sendBatch(batch, session.csrf_token, report); });
          }, Promise.resolve()).then(function () { return report; });
        });
      })
      .catch(function () { report.offline = true; return report; });
  }

  function sendBatch(batch, token, report) {
    return fetchWithTimeout(config.visits, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(batchBody(batch))
    }).then(function (response) {
      if (response.status === 401) { report.signedOut = true; throw new Error("signed out"); }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (body) {
      var byUuid = {};
      batch.forEach(function (item) { byUuid[item.uuid] = item; });
      // A visit's own changes are answered too (with visit_uuid): they go or stay with their visit.
      var standalone = (body.changes || []).filter(function (result) { return !result.visit_uuid; });
      return Promise.all(body.results.concat(standalone).map(function (result) {
        var item = byUuid[result.uuid];
        report.results[result.uuid] = result;
        if (item && item.type === "change" && result.status === "conflict") {
          report.sent += 1;  // kept on the server for the leader's review: sending it again would change nothing
          return remove(item.uuid);
        }
        if (!item) return null;
        if (result.status === "created" || result.status === "existing") {
          report.sent += 1;
          return remove(item.uuid);
        }
        // Rejected and conflicting visits stay on the phone, with the reason, until fixed or discarded.
        item.state = result.status;
        item.errors = result.errors || {};
        return put(item);
      }));
    });
  }

  function batchBody(batch) {
    var body = { visits: [] };
    batch.forEach(function (item) {
      if (item.type === "change") (body.changes = body.changes || []).push(item.payload);
      else body.visits.push(item.payload);
    });
    return body;
  }

  // The next photo to send: the oldest waiting one of the user whose visit the server has (its visit has left
  // the queue, which happens only on created or existing). Read afresh each time, so photos kept meanwhile go too.
  function nextPhoto(userId) {
    return Promise.all([all(), photos()]).then(function (both) {
      var queued = {};
      both[0].forEach(function (item) { queued[item.uuid] = true; });
      var ready = both[1].filter(function (photo) {
        return photo.user_id === userId && photo.state === "waiting" && photo.blob && !queued[photo.visit_uuid];
      });
      ready.sort(function (a, b) { return a.queued_at < b.queued_at ? -1 : a.queued_at > b.queued_at ? 1 : a.order - b.order; });
      return ready[0] || null;
    });
  }

  // Each photo its own upload, one after the other (one bar of signal is not split); a resend of the same photo
  // answers "existing". A refused photo is dropped with its reason kept; a network fault or a 5xx stops the round
  // (the photo is sent again later, whole).
  function sendPhotos(report) {
    var session = report.session;
    function upload(photo) {
      var body = new FormData();
      body.append("record", "visit");
      body.append("record_uuid", photo.visit_uuid);
      body.append("sha256", photo.sha256);
      if (photo.caption) body.append("caption", photo.caption);
      if (photo.taken_at) body.append("taken_at", photo.taken_at);
      body.append("file", photo.blob, "photo.jpg");
      var controller = new AbortController();
      var timer = setTimeout(function () { controller.abort(); }, PHOTO_TIMEOUT_MS);
      return fetch(config.photos, {
        method: "POST", body: body, headers: { "X-CSRFToken": session.csrf_token },
        credentials: "same-origin", cache: "no-store", signal: controller.signal
      }).finally(function () { clearTimeout(timer); }).then(function (response) {
        if (response.status === 401) { report.signedOut = true; throw new Error("signed out"); }
        if (response.status >= 500) throw new Error("HTTP " + response.status);
        return response.json().catch(function () { return {}; }).then(function (answer) {
          if (answer.status === "created" || answer.status === "existing") {
            report.photosSent += 1;
            return removePhoto(photo);
          }
          if (answer.status === "rejected") {
            return putPhoto(Object.assign({}, photo, { blob: null, size: 0, state: "rejected", errors: answer.errors || {} }));
          }
          // "retry": the photo arrived damaged (a dropped connection); or no answer of the API's (a proxy, an old
          // token): the photo stays and goes again later.
          throw new Error("HTTP " + response.status);
        });
      });
    }
    // A dropped connection mid-photo is common on one bar: the photo is sent again after a short wait, twice at
    // most a round; the next round (the page's timer, "online", Background Sync) tries again after that.
    var retries = 2;
    function loop() {
      return nextPhoto(session.user.id).then(function (photo) {
        return photo && upload(photo).catch(function (error) {
          if (!(error instanceof TypeError || error.name === "AbortError") || !retries--) throw error;
          return new Promise(function (resolve) { setTimeout(resolve, RETRY_MS); });
        }).then(loop);
      });
    }
    return loop().catch(function () { report.photosStopped = true; }).then(function () { return report; });
  }

  function locked(name, run) {
    // One sender at a time across tabs and the service worker, where the browser has Web Locks.
    return root.navigator.locks.request(name, run);
  }

  var sending = null, sendingPhotos = null;
  // The waiting visits, then (unless options.photos is false) the photos of the visits the server has. Photos
  // have a lock of their own, so a visit saved meanwhile is not held up behind minutes of uploads; when photos
  // are being sent already, that sender takes the new ones too.
  function send(options) {
    var visits = root.navigator && root.navigator.locks ? locked("fieldapp-send-visits", sendNow) :
      (sending = sending || sendNow().finally(function () { sending = null; }));
    if (options && options.photos === false) return visits;
    return visits.then(function (report) {
      if (!report.session || !report.session.user || report.signedOut) return report;
      if (root.navigator && root.navigator.locks) {
        return root.navigator.locks.request("fieldapp-send-photos", { ifAvailable: true }, function (lock) {
          return lock ? sendPhotos(report) : report;
        });
      }
      if (sendingPhotos) return report;
      sendingPhotos = sendPhotos(report).finally(function () { sendingPhotos = null; });
      return sendingPhotos;
    });
  }

  function counts(userId) {
    return all().then(function (items) {
      var mine = items.filter(function (item) { return userId == null || item.user_id === userId; });
      return {
        waiting: mine.filter(function (item) { return item.state === "waiting"; }).length,
        problems: mine.filter(function (item) { return item.state !== "waiting"; }).length
      };
    });
  }

  root.offlineQueue = { put: put, get: get, all: all, remove: remove, discard: discard, forHousehold: forHousehold,
                        send: send, counts: counts, putPhoto: putPhoto, photos: photos, photosOf: photosOf,
                        removePhoto: removePhoto };
})(self);
