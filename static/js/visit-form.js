// The visit form: a fresh visit id when the form opens, the phone's location, one save per tap.

// A client-generated id (UUID 4) for a visit, a request or a register change: a resend carries the same one.
function newUuid() {
  "use strict";
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  var b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
}

(function () {
  "use strict";
  var form = document.getElementById("visit-form");
  if (!form) return;
  var field = function (name) { return form.elements.namedItem(name); };
  var status = document.getElementById("location-status");
  var text = JSON.parse(status.dataset.texts);  // the page's words, in the page's language

  // A form shown again after an error keeps its id (the same visit); a freshly opened one gets a new id.
  if (field("uuid").dataset.freshUuid === "yes") field("uuid").value = newUuid();

  function noLocation(reason) {
    field("lat").value = field("lon").value = field("accuracy").value = "";
    field("no_location_reason").value = reason;
    status.textContent = text[reason];
    status.dataset.state = "none";
  }

  function locate() {
    if (!navigator.geolocation) return noLocation("unsupported");
    status.textContent = text.locating;
    status.dataset.state = "locating";
    navigator.geolocation.getCurrentPosition(function (position) {
      field("lat").value = position.coords.latitude.toFixed(7);
      field("lon").value = position.coords.longitude.toFixed(7);
      field("accuracy").value = Math.round(position.coords.accuracy * 10) / 10;
      field("no_location_reason").value = "";
      status.textContent = text.accuracy.replace("{m}", Math.round(position.coords.accuracy));
      status.dataset.state = "located";
    }, function (error) {
      noLocation({1: "denied", 2: "unavailable", 3: "timeout"}[error.code] || "unavailable");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }
  document.getElementById("refresh-location").addEventListener("click", locate);
  if (!field("lat").value) locate();

  // "Another request": a copy of the empty request block.
  var blocks = document.getElementById("request-blocks");
  document.getElementById("add-another-request").addEventListener("click", function () {
    var index = blocks.children.length;
    var html = document.getElementById("request-block-template").innerHTML.replace(/__INDEX__/g, index);
    blocks.insertAdjacentHTML("beforeend", html);
    blocks.lastElementChild.querySelector("select").focus();
  });

  function payload() {
    var number = function (name) { return field(name).value === "" ? null : parseFloat(field(name).value); };
    var requests = [];
    form.querySelectorAll(".request-block").forEach(function (block) {
      var category = block.querySelector('select[name="new_category"]').value;
      var description = block.querySelector('textarea[name="new_description"]').value;
      if (!category && !description.trim()) return;
      requests.push({ uuid: block.querySelector('input[name="new_uuid"]').value, category: category, description: description });
    });
    var followups = [];
    form.querySelectorAll('select[name^="followup_"]').forEach(function (select) {
      if (!select.value) return;
      var id = select.name.slice("followup_".length);
      followups.push({ request_id: parseInt(id, 10), action: select.value, note: field("followup_note_" + id).value });
    });
    var outcome = form.querySelector('input[name="outcome"]:checked');
    return {
      uuid: field("uuid").value, household_id: parseInt(form.dataset.householdId, 10),
      visited_at: field("visited_at").value, lat: number("lat"), lon: number("lon"), accuracy: number("accuracy"),
      no_location_reason: field("no_location_reason").value || null, outcome: outcome ? outcome.value : "",
      residents_met: Array.prototype.map.call(form.querySelectorAll('input[name="residents_met"]:checked'),
        function (box) { return parseInt(box.value, 10); }),
      notes: field("notes").value, new_requests: requests, followups: followups,
      changes: window.registerChanges ? window.registerChanges.collect(form, field("visited_at").value) : []
    };
  }

  function showErrors(errors) {
    form.querySelectorAll(".js-error").forEach(function (node) { node.remove(); });
    document.getElementById("form-errors").hidden = false;
    Object.keys(errors).forEach(function (key) {
      var message = document.createElement("p");
      message.className = "field-error js-error";
      message.setAttribute("role", "alert");
      message.textContent = errors[key];
      var target = document.getElementById(key) || form.querySelector('[name="' + key + '"]') ||
        document.getElementById("form-errors");
      target.setAttribute("aria-invalid", "true");
      target.insertAdjacentElement("afterend", message);
    });
    if (window.registerChanges) window.registerChanges.reveal(form);
    document.getElementById("form-errors").scrollIntoView();
  }

  function done(button) {
    form.dataset.submitting = "";
    button.removeAttribute("aria-busy");
    button.textContent = button.dataset.label;
  }

  // Restoring a visit that the server refused, to fix it (same visit id).
  var restore = new URLSearchParams(location.search).get("restore");
  if (restore && window.offlineQueue) {
    window.offlineQueue.get(restore).then(function (item) {
      if (!item) return;
      var p = item.payload;
      field("uuid").value = p.uuid;
      ["visited_at", "notes"].forEach(function (name) { field(name).value = p[name] || ""; });
      var radio = form.querySelector('input[name="outcome"][value="' + p.outcome + '"]');
      if (radio) radio.checked = true;
      (p.residents_met || []).forEach(function (id) {
        var box = form.querySelector('input[name="residents_met"][value="' + id + '"]');
        if (box) box.checked = true;
      });
      (p.new_requests || []).forEach(function (request, index) {
        if (index > 0) document.getElementById("add-another-request").click();
        var block = form.querySelectorAll(".request-block")[index];
        block.querySelector('input[name="new_uuid"]').value = request.uuid;
        block.querySelector("select").value = request.category;
        block.querySelector("textarea").value = request.description;
        block.closest("details").open = true;
      });
      if (window.registerChanges) window.registerChanges.restore(form, p.changes || []);
      if (window.formPhotos) window.formPhotos.restore(p.uuid);
      if (item.errors) showErrors(item.errors);
    });
  }

  form.addEventListener("submit", function (event) {
    if (form.dataset.submitting === "yes") { event.preventDefault(); return; }  // a double tap
    var queue = window.offlineQueue;
    if (!restore || !field("visited_at").value) field("visited_at").value = new Date().toISOString();
    Array.prototype.forEach.call(form.querySelectorAll('input[name="new_uuid"]'), function (input) {
      if (!input.value) input.value = newUuid();
    });
    if (!queue || !window.indexedDB) return;  // the plain form post, as without JavaScript
    event.preventDefault();
    if (event.submitter && event.submitter.value === "changes") return saveChangesOnly(queue, event.submitter);
    form.dataset.submitting = "yes";
    var button = document.getElementById("save-visit");
    button.setAttribute("aria-busy", "true");
    button.dataset.label = button.textContent;
    button.textContent = text.saving;
    var visit = payload();
    var item = { uuid: visit.uuid, household_id: visit.household_id, user_id: parseInt(document.body.dataset.userId, 10),
                 payload: visit, state: "waiting", errors: {}, queued_at: new Date().toISOString() };
    // Kept on the phone first: whatever happens next, the visit is not lost. Its photos next (a phone too full for
    // them keeps the visit, and the next page says so); they are sent by the next page, after the visit.
    queue.put(item).then(function () {
      return window.formPhotos ? window.formPhotos.keep(item) : null;
    }).then(function (notice) {
      if (notice) sessionStorage.setItem("fieldapp-notice", notice);
      return navigator.onLine === false ? { offline: true, results: {} } : queue.send({ photos: false });
    }).then(function (report) {
      var result = report.results[visit.uuid];
      if (result && (result.status === "created" || result.status === "existing")) {
        var url = new URL(result.url, location.href);
        url.searchParams.set("saved", result.status);
        location.assign(url.toString());
      } else if (result) {
        showErrors(result.errors || {});
        done(button);
      } else {
        if (navigator.serviceWorker) {
          navigator.serviceWorker.ready.then(function (registration) {
            if (registration.sync) registration.sync.register(window.offlineConfig.syncTag).catch(function () {});
          });
        }
        location.assign(form.dataset.householdUrl + "?queued=" + encodeURIComponent(visit.uuid));
      }
    }).catch(function () { done(button); });
  });
  // The "Residents" part alone, without a visit: each change its own item in the queue, sent as the visits are.
  function saveChangesOnly(queue, button) {
    var changes = window.registerChanges ? window.registerChanges.collect(form, new Date().toISOString()) : [];
    if (!changes.length) { showErrors({ "register-changes": button.dataset.nothing }); return; }
    form.dataset.submitting = "yes";
    button.setAttribute("aria-busy", "true");
    var userId = parseInt(document.body.dataset.userId, 10), queuedAt = new Date().toISOString();
    Promise.all(changes.map(function (change) {
      return queue.put({ uuid: change.uuid, type: "change", household_id: change.household_id, user_id: userId,
                         payload: change, state: "waiting", errors: {}, queued_at: queuedAt });
    })).then(function () {
      return navigator.onLine === false ? { offline: true, results: {} } : queue.send();
    }).then(function (report) {
      var refused = {};
      changes.forEach(function (change) {
        var answer = report.results[change.uuid];
        if (answer && answer.status === "rejected") Object.assign(refused, answer.errors || {});
      });
      if (Object.keys(refused).length) {
        showErrors(refused);
        form.dataset.submitting = "";
        button.removeAttribute("aria-busy");
        return;
      }
      location.assign(form.dataset.householdUrl + "#residents");
    }).catch(function () { form.dataset.submitting = ""; button.removeAttribute("aria-busy"); });
  }

  // Back from the history cache after a save: this is a new visit, with a new id.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && form.dataset.submitting === "yes") field("uuid").value = newUuid();
    form.dataset.submitting = "";
  });
})();

// The visit form's photos: each shrunk as soon as it is taken or chosen (static/js/photos.js), shown with its
// caption field and a "Remove" button, and kept in the queue's photo store when the visit is saved.
(function () {
  "use strict";
  var fieldset = document.getElementById("photos");
  var queue = window.offlineQueue, photos = window.visitPhotos;
  if (!fieldset || !queue || !photos || !window.indexedDB) return;  // the plain form post carries no photos
  fieldset.hidden = false;
  var form = document.getElementById("visit-form");
  var input = document.getElementById("photo-input");
  var list = document.getElementById("photo-list");
  var status = document.getElementById("photo-status");
  var text = JSON.parse(fieldset.dataset.texts);
  var max = parseInt(fieldset.dataset.max, 10);
  var entries = [];  // {blob, sha256, taken_at, url, li}, in the order taken
  var pending = Promise.resolve();  // photos still being shrunk: a save waits for them

  function tell(message, problem) {
    fieldset.querySelectorAll(".js-photo-error").forEach(function (node) { node.remove(); });
    status.textContent = problem ? "" : message || "";
    if (problem) {
      var error = document.createElement("p");
      error.className = "field-error js-photo-error";
      error.setAttribute("role", "alert");
      error.textContent = message;
      status.insertAdjacentElement("afterend", error);
    }
  }

  function warnIfShort() {
    return photos.storageLeft().then(function (storage) {
      if (storage.low) tell(text.lowStorage.replace("{mb}", (storage.left / 1048576).toFixed(0)), true);
      return storage;
    });
  }

  function show(entry, caption) {
    var li = document.getElementById("photo-template").content.firstElementChild.cloneNode(true);
    entry.url = URL.createObjectURL(entry.blob);
    entry.li = li;
    li.querySelector("img").src = entry.url;
    li.querySelector(".photo-caption").value = caption || "";
    li.querySelector(".photo-remove").addEventListener("click", function () {
      entries.splice(entries.indexOf(entry), 1);
      URL.revokeObjectURL(entry.url);
      li.remove();
      number();
      tell("");
    });
    entries.push(entry);
    list.append(li);
    number();
  }

  function number() {
    entries.forEach(function (entry, index) {
      entry.li.querySelector("img").alt = text.alt.replace("{n}", index + 1);
    });
  }

  function add(file) {
    if (entries.length >= max) return Promise.resolve(false);
    tell(text.shrinking);
    return photos.shrink(file).then(function (shrunk) {
      return photos.sha256(shrunk.blob).then(function (sha256) {
        if (entries.some(function (entry) { return entry.sha256 === sha256; })) return true;  // the same photo twice
        var taken = new Date(file.lastModified || Date.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
        show({ blob: shrunk.blob, sha256: sha256, taken_at: taken });
        tell("");
        return true;
      });
    }).catch(function () { tell(text.unreadable, true); return true; });
  }

  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files);
    input.value = "";  // the same photo can be chosen again after "Remove"
    if (!photos.canHash) { tell(text.insecure, true); return; }
    var refused = entries.length + files.length > max;
    pending = pending.then(function () {
      return files.reduce(function (previous, file) {  // one at a time: a 12-megapixel bitmap is ~48 MB of memory
        return previous.then(function () { return add(file); });
      }, Promise.resolve());
    }).then(function () {
      if (refused) tell(text.tooMany, true);
      else return warnIfShort();
    });
  });

  // Keep the photos of the saved visit item (photos removed from a restored visit leave the store). Resolves a
  // message for the member when some could not be kept (the phone is full), else null.
  function keep(item) {
    var lost = 0;
    return pending.then(function () { return queue.photosOf(item.uuid); }).then(function (kept) {
      var shown = entries.map(function (entry) { return entry.sha256; });
      return Promise.all(kept.filter(function (photo) { return shown.indexOf(photo.sha256) < 0; }).map(queue.removePhoto));
    }).then(function () {
      if (!entries.length) return null;
      photos.askToPersist();
      var queuedAt = new Date().toISOString();
      return entries.reduce(function (previous, entry, index) {
        return previous.then(function () {
          return queue.putPhoto({
            visit_uuid: item.uuid, sha256: entry.sha256, household_id: item.household_id, user_id: item.user_id,
            caption: entry.li.querySelector(".photo-caption").value.trim(), blob: entry.blob, size: entry.blob.size,
            taken_at: entry.taken_at, state: "waiting", errors: {}, queued_at: queuedAt, order: index
          }).catch(function () { lost += 1; });  // QuotaExceededError: the visit stays saved without it
        });
      }, Promise.resolve()).then(function () { return lost ? text.notKept : null; });
    });
  }

  // A visit restored to be fixed: its kept photos shown again, to keep or remove.
  function restore(uuid) {
    pending = pending.then(function () { return queue.photosOf(uuid); }).then(function (kept) {
      kept.filter(function (photo) { return photo.blob; }).sort(function (a, b) { return a.order - b.order; })
        .forEach(function (photo) { show({ blob: photo.blob, sha256: photo.sha256, taken_at: photo.taken_at }, photo.caption); });
    });
  }

  window.formPhotos = { keep: keep, restore: restore };
})();

// The visit form's "Residents" part: what was changed in its blocks, as the visit's register changes (each with
// its own id and the value the page showed), the same changes put back into a restored form, and the blocks
// with errors opened. The server derives the same changes from the plain form post (fieldapp/registerform.py).
(function () {
  "use strict";
  var CORRECTABLE = ["name", "phone", "birth_year", "relation"];


  function reader(form, block) {
    var prefix = block.dataset.prefix;
    return {
      input: function (name) { return form.elements.namedItem(prefix + name); },
      value: function (name) {
        var input = form.elements.namedItem(prefix + name);
        return input && input.value !== undefined ? input.value.trim() : "";
      },
      boxes: function (name) { return block.querySelectorAll('input[name="' + prefix + name + '"]'); },
      checked: function (name) {
        return Array.prototype.map.call(block.querySelectorAll('input[name="' + prefix + name + '"]:checked'),
          function (box) { return box.value; });
      }
    };
  }

  function collect(form, madeAt) {
    var householdId = parseInt(form.dataset.householdId, 10);
    var changes = [];
    form.querySelectorAll(".resident-editor").forEach(function (block) {
      var r = reader(form, block);
      var base = { household_id: householdId, reason: r.value("reason"), made_at: madeAt || null };
      if (!block.dataset.residentId) {
        var tags = r.checked("tags");
        if (!r.value("name") && !r.value("phone") && !r.value("birth_year") && !r.value("relation") && !tags.length) return;
        changes.push(Object.assign({ uuid: newUuid(), kind: "resident_added", person: {
          name: r.value("name"), phone: r.value("phone") || null,
          birth_year: r.value("birth_year") ? parseInt(r.value("birth_year"), 10) : null,
          relation: r.value("relation") || null, tags: tags } }, base));
        return;
      }
      base.resident_id = parseInt(block.dataset.residentId, 10);
      CORRECTABLE.forEach(function (name) {
        var after = r.value(name), before = r.value("before_" + name);
        if (name === "phone" && !after) return;  // the page shows no number to edit: empty keeps it
        if (after !== before) {
          changes.push(Object.assign({ uuid: newUuid(), kind: "resident_corrected", field: name,
                                       before: before || null, after: after || null }, base));
        }
      });
      r.checked("tags_add").forEach(function (code) {
        changes.push(Object.assign({ uuid: newUuid(), kind: "tag_added", field: "tag", after: code }, base));
      });
      r.checked("tags_end").forEach(function (code) {
        changes.push(Object.assign({ uuid: newUuid(), kind: "tag_ended", field: "tag", before: code }, base));
      });
      if (r.value("status")) {
        changes.push(Object.assign({ uuid: newUuid(), kind: "resident_left", field: "status", after: r.value("status"),
                                     day: r.value("left_on") || null, moved_to: r.value("moved_to") || null }, base));
      }
    });
    return changes;
  }

  function restore(form, changes) {
    changes.forEach(function (change) {
      var block = change.kind === "resident_added" ? form.querySelector(".resident-editor.new-resident") :
        form.querySelector('.resident-editor[data-resident-id="' + change.resident_id + '"]');
      if (!block) return;
      var r = reader(form, block);
      var set = function (name, value) { var input = r.input(name); if (input && value != null) input.value = value; };
      var check = function (name, code) {
        Array.prototype.forEach.call(r.boxes(name), function (box) { if (box.value === code) box.checked = true; });
      };
      set("reason", change.reason);
      if (change.kind === "resident_added") {
        var person = change.person || {};
        ["name", "phone", "birth_year", "relation"].forEach(function (name) { set(name, person[name]); });
        (person.tags || []).forEach(function (code) { check("tags", code); });
      } else if (change.kind === "resident_corrected") {
        set(change.field, change.after);
      } else if (change.kind === "tag_added") {
        check("tags_add", change.after);
      } else if (change.kind === "tag_ended") {
        check("tags_end", change.before);
      } else if (change.kind === "resident_left") {
        set("status", change.after); set("left_on", change.day); set("moved_to", change.moved_to);
      }
      block.open = true;
    });
  }

  function reveal(form) {
    form.querySelectorAll(".resident-editor").forEach(function (block) {
      if (block.querySelector('[aria-invalid="true"]')) block.open = true;
    });
  }

  window.registerChanges = { collect: collect, restore: restore, reveal: reveal };
})();
