// The offline queue: visits kept in IndexedDB until the server has them (created or already had).
// Loaded by the pages and by the service worker (importScripts), so both send the same way; the URLs come from
// the server (root.offlineConfig: see fieldapp/pwa.py).
(function (root) {
  "use strict";
  var config = root.offlineConfig;
  var DB_NAME = "fieldapp";
  var STORE = "visits";
  var BATCH = 50;
  var CHANGES = 100;  // fieldapp/registerform.py MAX_CHANGES
  var TIMEOUT_MS = 20000;
  var dbPromise = null;

  function database() {
    if (!dbPromise) {
      dbPromise = root.idb.openDB(DB_NAME, 1, {
        upgrade: function (db) {
          var store = db.createObjectStore(STORE, { keyPath: "uuid" });
          store.createIndex("household", "household_id");
        }
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

  function fetchWithTimeout(url, options) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    options = Object.assign({ credentials: "same-origin", cache: "no-store", signal: controller.signal }, options);
    return fetch(url, options).finally(function () { clearTimeout(timer); });
  }

  // Send the signed-in user's waiting visits. Resolves {sent, results, signedOut, offline, session}, session
  // being the server's answer to config.session (absent when it could not be asked).
  function sendNow() {
    var report = { sent: 0, results: {}, signedOut: false, offline: false };
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

  var sending = null;
  function send() {
    // One sender at a time across tabs and the service worker, where the browser has Web Locks.
    if (root.navigator && root.navigator.locks) {
      return root.navigator.locks.request("fieldapp-send-visits", sendNow);
    }
    if (!sending) sending = sendNow().finally(function () { sending = null; });
    return sending;
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

  root.offlineQueue = { put: put, get: get, all: all, remove: remove, forHousehold: forHousehold, send: send, counts: counts };
})(self);
