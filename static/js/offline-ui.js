// Offline on the page: the service worker, the "waiting to send" counter and overlays,
// "Prepare for offline", sending when the signal returns, and clearing kept pages at sign-out and whenever
// the server says that the session they were kept for has ended.
(function () {
  "use strict";
  var texts = (document.getElementById("offline-texts") || { dataset: {} }).dataset;
  var config = window.offlineConfig;
  var userId = parseInt(document.body.dataset.userId, 10) || null;
  var queue = window.offlineQueue;
  var kept = window.keptPages;
  var PREPARED_KEY = "fieldapp-offline-prepared";
  var inWeChat = /MicroMessenger/i.test(navigator.userAgent);

  function format(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  // The registration, or null where there is no service worker (WeChat on iOS) or it could not register.
  var registered = Promise.resolve(null);
  if ("serviceWorker" in navigator) {
    registered = navigator.serviceWorker.register(config.serviceWorker, { scope: config.scope })
      .catch(function () { return null; });
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "queue-changed") refresh();
    });
  }

  // Sign-out, and the sign-in page: nothing of the previous user stays in the page cache.
  function clearKeptPages() {
    localStorage.removeItem(PREPARED_KEY);
    return window.caches ? caches.delete(kept.CACHE) : Promise.resolve();
  }

  // The server's word on the session (from config.session): pages kept for another session, or for a session
  // that has ended (signed out on another device, timed out, disabled), are deleted. Queued visits stay.
  function keepPagesOf(session) {
    if (!session || !window.caches) return Promise.resolve();
    return kept.keepOnlyFor(session.user ? session.session : null).then(function (deleted) {
      if (deleted) localStorage.removeItem(PREPARED_KEY);
    });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.action || new URL(form.action).pathname !== config.signOut || form.dataset.cleared) return;
    event.preventDefault();
    clearKeptPages().finally(function () { form.dataset.cleared = "yes"; form.submit(); });
  });
  if (location.pathname === config.signIn) clearKeptPages();
  if (!userId) return;
  if (!queue) return;

  // A word left by the page before (the visit form: photos the full phone could not keep).
  var notice = sessionStorage.getItem("fieldapp-notice");
  if (notice && document.getElementById("main")) {
    sessionStorage.removeItem("fieldapp-notice");
    var noticeLine = document.createElement("p");
    noticeLine.className = "flash flash-error";
    noticeLine.setAttribute("role", "alert");
    noticeLine.textContent = notice;
    document.getElementById("main").prepend(noticeLine);
  }

  // The counter in the header (visits and photos, and how much the phone keeps waiting), the badges in the list,
  // the waiting visits and photos on a household's page.
  function refresh() {
    return Promise.all([queue.all(), queue.photos()]).then(function (both) {
      var mine = both[0].filter(function (item) { return item.user_id === userId; });
      var photos = both[1].filter(function (photo) { return photo.user_id === userId; });
      var waiting = mine.filter(function (item) { return item.state === "waiting"; });
      var photosWaiting = photos.filter(function (photo) { return photo.state === "waiting"; });
      var problems = mine.length - waiting.length, photoProblems = photos.length - photosWaiting.length;
      var bar = document.getElementById("queue-bar");
      if (bar) {
        bar.hidden = mine.length === 0 && photos.length === 0;
        var words = [], parts = [];
        if (waiting.length) parts.push(waiting.length);
        if (photosWaiting.length) {
          var bytes = photosWaiting.reduce(function (sum, photo) { return sum + (photo.size || 0); }, 0);
          parts.push(format(texts.photos, { n: photosWaiting.length, mb: (bytes / 1048576).toFixed(1) }));
        }
        if (parts.length) words.push(format(texts.waitingCount, { n: parts.join(" · ") }));
        if (problems) words.push(format(texts.problems, { n: problems }));
        if (photoProblems) words.push(format(texts.photoProblems, { n: photoProblems }));
        document.getElementById("queue-count").textContent = words.join(" · ");
        document.getElementById("send-now").hidden = waiting.length === 0 && photosWaiting.length === 0;
      }
      markRows(mine.concat(photos));
      showOnHouseholdPage(mine, photos);
      return mine.concat(photos);
    });
  }

  function markRows(items) {
    document.querySelectorAll(".household-row .waiting-badge").forEach(function (badge) { badge.remove(); });
    items.forEach(function (item) {
      var row = document.querySelector('.household-row[data-household-id="' + item.household_id + '"] .row-meta');
      if (row && !row.querySelector(".waiting-badge")) {
        var badge = document.createElement("span");
        badge.className = "waiting-badge";
        badge.textContent = "⇡ " + (item.state === "waiting" ? texts.waiting : texts.rejected);
        row.prepend(badge);
      }
    });
  }

  function showOnHouseholdPage(items, photos) {
    var list = document.getElementById("pending-visits");
    if (!list) return;
    var householdId = parseInt(list.dataset.householdId, 10);
    var outcomes = JSON.parse(list.dataset.outcomes || "{}");
    list.replaceChildren();
    var queued = {}, photosOf = {};
    items.forEach(function (item) { queued[item.uuid] = true; });
    photos = photos.filter(function (photo) { return photo.household_id === householdId; });
    photos.forEach(function (photo) {
      if (photo.state === "waiting") photosOf[photo.visit_uuid] = (photosOf[photo.visit_uuid] || 0) + 1;
    });
    items.filter(function (item) { return item.household_id === householdId; }).forEach(function (item) {
      var li = document.createElement("li");
      li.className = "visit pending pending-" + item.state;
      var head = document.createElement("p");
      var badge = document.createElement("strong");
      badge.className = "waiting-badge";
      badge.textContent = "⇡ " + (item.state === "waiting" ? texts.waiting : item.state === "conflict" ? texts.conflict : texts.rejected);
      if (item.type === "change") {  // a register change made on its own
        head.append(badge, " · " + new Date(item.payload.made_at || item.queued_at).toLocaleString() + " · " + texts.registerChange);
        li.append(head);
        if (item.payload.reason) { var why = document.createElement("p"); why.textContent = item.payload.reason; li.append(why); }
      } else {
        head.append(badge, " · " + new Date(item.payload.visited_at).toLocaleString() + " · " + (outcomes[item.payload.outcome] || item.payload.outcome));
        li.append(head);
        if (item.payload.notes) { var notes = document.createElement("p"); notes.textContent = item.payload.notes; li.append(notes); }
        if (photosOf[item.uuid]) {
          var count = document.createElement("p");
          count.className = "pending-photos";
          count.textContent = "📷 " + format(texts.visitPhotos, { n: photosOf[item.uuid] });
          li.append(count);
        }
      }
      if (item.state !== "waiting") {
        Object.keys(item.errors || {}).forEach(function (key) {
          var error = document.createElement("p");
          error.className = "field-error";
          error.textContent = item.errors[key];
          li.append(error);
        });
        if (item.type === "change") {  // fixed by making the change again; only discarding it is offered
          var drop = document.createElement("button");
          drop.type = "button";
          drop.className = "small";
          drop.textContent = texts.discard;
          drop.addEventListener("click", function () { queue.remove(item.uuid).then(refresh); });
          li.append(drop);
          list.append(li);
          return;
        }
        var edit = document.createElement("a");
        edit.className = "button small";
        edit.href = list.dataset.newVisitUrl + "?restore=" + encodeURIComponent(item.uuid);
        edit.textContent = texts.edit;
        var discard = document.createElement("button");
        discard.type = "button";
        discard.className = "small";
        discard.textContent = texts.discard;
        discard.addEventListener("click", function () {
          if (window.confirm(texts.confirmDiscard)) queue.discard(item.uuid).then(refresh);
        });
        li.append(edit, " ", discard);
      }
      list.append(li);
    });
    // Photos whose visit the server has already: waiting their turn, or refused (the reason shown until dismissed).
    Object.keys(photosOf).filter(function (uuid) { return !queued[uuid]; }).forEach(function (uuid) {
      list.append(pendingLine(texts.waiting, "📷 " + format(texts.sentVisitPhotos, { n: photosOf[uuid] }), "waiting"));
    });
    photos.filter(function (photo) { return photo.state !== "waiting"; }).forEach(function (photo) {
      var li = pendingLine(texts.rejected, texts.photo + (photo.caption ? " · " + photo.caption : ""), "rejected");
      Object.keys(photo.errors || {}).forEach(function (key) {
        var error = document.createElement("p");
        error.className = "field-error";
        error.textContent = photo.errors[key];
        li.append(error);
      });
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "small";
      dismiss.textContent = texts.discard;
      dismiss.addEventListener("click", function () { queue.removePhoto(photo).then(refresh); });
      li.append(dismiss);
      list.append(li);
    });
  }

  function pendingLine(state, words, kind) {
    var li = document.createElement("li");
    li.className = "visit pending pending-photo pending-" + kind;
    var head = document.createElement("p");
    var badge = document.createElement("strong");
    badge.className = "waiting-badge";
    badge.textContent = "⇡ " + state;
    head.append(badge, " · " + words);
    li.append(head);
    return li;
  }

  function sendWaiting() {
    if (navigator.onLine === false) return Promise.resolve();
    return queue.send().then(function (report) {
      return keepPagesOf(report && report.session).then(refresh).then(function (mine) {
        // After the counter is redrawn, or it would hide the reason nothing was sent.
        if (report && report.signedOut && mine.length) document.getElementById("queue-count").textContent = texts.signedOut;
        return report;
      });
    });
  }

  // "Prepare for offline": keep the member's list and each household's page and visit form. The service
  // worker makes the copy, off this page's main thread, and says how far it got; without a service worker
  // the page makes it itself. Made after the page has loaded: the copy must not hold up the list.
  var prepareButton = document.getElementById("prepare-offline");
  var status = document.getElementById("offline-status");
  var STALLED_MS = 60000;  // no word from the worker for a minute: the member may try again
  var stalled = null;

  function showProgress(done, total) {
    if (status) status.textContent = format(texts.preparing, { done: done, total: total });
  }

  function showFreshness() {
    var record = JSON.parse(localStorage.getItem(PREPARED_KEY) || "null");
    if (record && record.user === userId && status) {
      status.textContent = format(texts.prepared, { at: new Date(record.at).toLocaleString() });
      status.dataset.preparedAt = record.at;
    }
    return record;
  }

  function finished(outcome) {
    clearTimeout(stalled);
    stalled = null;
    if (outcome && outcome.at) {
      localStorage.setItem(PREPARED_KEY, JSON.stringify({ user: userId, at: outcome.at, pages: outcome.pages }));
      showFreshness();
    } else if (status) {
      status.textContent = texts.prepareFailed;
    }
    if (prepareButton) prepareButton.disabled = false;
  }

  function watch() {
    clearTimeout(stalled);
    stalled = setTimeout(finished, STALLED_MS);
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      var data = event.data || {};
      if (data.type === "offline-progress") {
        watch();
        if (prepareButton) prepareButton.disabled = true;
        showProgress(data.done, data.total);
      } else if (data.type === "offline-prepared") {
        finished(data);
      } else if (data.type === "offline-failed") {
        finished(null);
      }
    });
  }

  function prepareInPage() {
    return window.offlineCopy(function (done, total) { watch(); showProgress(done, total); })
      .catch(function () { return null; })
      .then(finished);
  }

  function prepareForOffline() {
    if (!window.caches) return Promise.resolve();
    prepareButton.disabled = true;
    watch();
    return registered.then(function (registration) {
      if (!registration) return prepareInPage();
      return navigator.serviceWorker.ready.then(function (ready) {
        ready.active.postMessage({ type: "prepare-offline" });
      });
    });
  }

  if (prepareButton) {
    prepareButton.addEventListener("click", prepareForOffline);
    var record = showFreshness();
    var stale = !record || record.user !== userId || Date.now() - Date.parse(record.at) > 12 * 3600 * 1000;
    // After sign-in the member's copy is made without asking (the button does it again on demand).
    if (stale && navigator.onLine !== false && prepareButton.dataset.auto === "yes") {
      if (document.readyState === "complete") prepareForOffline();
      else window.addEventListener("load", prepareForOffline, { once: true });
    }
  }

  document.getElementById("send-now").addEventListener("click", sendWaiting);
  window.addEventListener("online", sendWaiting);
  window.addEventListener("queue-changed", refresh);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") sendWaiting(); });
  setInterval(sendWaiting, 30000);

  if (inWeChat) document.getElementById("wechat-banner").hidden = false;
  // Without a service worker (WeChat on iOS), an unsent visit lives only in this page's storage: warn.
  window.addEventListener("beforeunload", function (event) {
    if (navigator.serviceWorker && navigator.serviceWorker.controller) return;
    if (document.getElementById("queue-bar") && !document.getElementById("queue-bar").hidden &&
        document.getElementById("send-now") && !document.getElementById("send-now").hidden) {
      event.preventDefault();
      event.returnValue = texts.leaveWarning;
    }
  });

  refresh().then(sendWaiting);
  window.fieldappOffline = { refresh: refresh, sendWaiting: sendWaiting };
})();
