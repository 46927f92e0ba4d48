"""A visit as a member sends it, from the form or in the phone's sync batch: its fields and limits, its
checks, its fingerprint, and the checks of an amendment. The visit views, the sync API and its OpenAPI
description all read them from here, so they cannot drift apart."""
import hashlib
import json
import uuid as uuidlib
from datetime import timedelta

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from fieldapp import inputs, rules

MAX_TEXT = 2000
NO_LOCATION_REASONS = ("denied", "unavailable", "timeout", "unsupported")
FUTURE_SLACK = timedelta(minutes=5)
OLDEST = timedelta(days=30)  # a phone may hold a visit offline for a while, not for months
# The position the phone measured: each number within its range.
RANGES = {"lat": (-90, 90), "lon": (-180, 180), "accuracy": (0, 1_000_000)}
# A sync item's fields that hold one value each, and those that hold a list.
FIELDS = ("uuid", "visited_at", "lat", "lon", "accuracy", "no_location_reason", "outcome", "notes")
LISTS = ("residents_met", "new_requests", "followups")
# A resolved request is followed up by its return visit: satisfied closes it, not satisfied reopens it.
RETURN_VISIT_ACTIONS = ("confirm", "reopen")
FOLLOWUP_ACTIONS = ("progress", "resolve", *RETURN_VISIT_ACTIONS)
MAX_BATCH = 100  # visits in one sync batch
MAX_BODY = 2 * 1024 * 1024  # bytes of one sync batch


def _number(raw, low, high):
    """A float within [low, high] from raw form text, or None if blank; ValueError otherwise."""
    if raw is None or str(raw).strip() == "":
        return None
    value = float(raw)
    if not (low <= value <= high):
        raise ValueError
    return value


def payload_digest(form, household_id):
    """A fingerprint of what the phone sent (not of what was derived from it): a resend must match it."""
    fields = {key: form.getlist(key) for key in sorted(form.keys()) if key != "csrf_token"}
    fields["household_id"] = [str(household_id)]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def item_as_form(item):
    """The visit form's fields from one JSON batch item, so the form's checks apply unchanged."""
    form = MultiDict()
    for key in FIELDS:
        value = item.get(key)
        if value is not None:
            form.add(key, value if isinstance(value, str) else str(value))
    for key in LISTS:  # a number here would crash the loops below
        if not isinstance(item.get(key) or [], list):
            raise ValueError(key)
    for resident_id in item.get("residents_met") or []:
        form.add("residents_met", str(resident_id))
    for new in item.get("new_requests") or []:
        if not isinstance(new, dict):
            raise ValueError("new_requests")
        form.add("new_uuid", str(new.get("uuid") or ""))
        form.add("new_category", str(new.get("category") or ""))
        form.add("new_description", str(new.get("description") or ""))
    for followup in item.get("followups") or []:
        if not isinstance(followup, dict) or inputs.record_id(str(followup.get("request_id", ""))) is None:
            raise ValueError("followups")
        form.add(f"followup_{followup['request_id']}", str(followup.get("action") or ""))
        form.add(f"followup_note_{followup['request_id']}", str(followup.get("note") or ""))
    return form


def _visited_at(form, now, errors):
    """The device time of the visit (now when not given), within the accepted span; errors at visited_at."""
    if not form.get("visited_at"):
        return now
    try:
        visited_at = rules.parse_iso(form["visited_at"]).replace(microsecond=0)
    except ValueError:
        errors["visited_at"] = _("The visit time is not a valid date and time.")
        return now
    if visited_at > now + FUTURE_SLACK:
        errors["visited_at"] = _("The visit time lies in the future; check the phone's clock.")
        return now  # a refused time is never stored or formatted (year 9999 with an offset overflows)
    if visited_at < now - OLDEST:
        errors["visited_at"] = _("The visit time is more than 30 days ago.")
        return now
    return visited_at


def _position(form, errors):
    """(lat, lon, accuracy) of the visit, all None when not given or not usable; errors at location."""
    try:
        lat, lon, accuracy = (_number(form.get(name), *RANGES[name]) for name in ("lat", "lon", "accuracy"))
        if (lat is None) != (lon is None) or (lat is not None and accuracy is None):
            raise ValueError
    except ValueError:
        errors["location"] = _("The location is out of range or incomplete; refresh it or save without.")
        return None, None, None
    return lat, lon, accuracy


def _new_requests(form, *, categories, visit_uuid, visited_at, user_id, errors):
    """The requests raised at the door; errors at new_category_N and new_description_N."""
    found = []
    known = {c["code"]: c for c in categories}
    blocks = zip(form.getlist("new_uuid"), form.getlist("new_category"), form.getlist("new_description"))
    for index, (request_uuid, category, description) in enumerate(blocks):
        description = description.strip()
        if not category and not description:
            continue  # an empty block the member did not use
        if category not in known:
            errors[f"new_category_{index}"] = _("Choose a category for the request.")
        if not description:
            errors[f"new_description_{index}"] = _("Describe what the resident needs.")
        elif len(description) > MAX_TEXT:
            errors[f"new_description_{index}"] = _("At most %(n)d characters.", n=MAX_TEXT)
        if category in known and description:
            try:
                request_uuid = str(uuidlib.UUID(request_uuid))
            except ValueError:
                namespace = uuidlib.UUID(visit_uuid) if "uuid" not in errors else uuidlib.NAMESPACE_URL
                request_uuid = str(uuidlib.uuid5(namespace, f"request-{index}"))
            found.append({
                "uuid": request_uuid, "category": category, "description": description,
                "responsible_user_id": user_id,
                "due_date": rules.request_due_date(rules.local_date(visited_at), known[category]["due_days"]).isoformat(),
            })
    return found


def _followups(form, open_requests, errors):
    """The follow-ups of the household's open requests; errors at followup_ID and followup_note_ID."""
    found = []
    for request in open_requests:
        action = form.get(f"followup_{request['id']}") or ""
        note = (form.get(f"followup_note_{request['id']}") or "").strip()
        if not action:
            continue
        allowed = RETURN_VISIT_ACTIONS if request["status"] == "resolved" else ("progress", "resolve")
        if action not in allowed:
            errors[f"followup_{request['id']}"] = _("Unknown follow-up.")
        elif action == "confirm":
            found.append({"request_id": request["id"], "action": action, "note": note[:MAX_TEXT] or None})
        elif not note:
            errors[f"followup_note_{request['id']}"] = (
                _("Write the resolution.") if action == "resolve" else
                _("Write what the resident is not satisfied with.") if action == "reopen" else _("Write what was done."))
        elif len(note) > MAX_TEXT:
            errors[f"followup_note_{request['id']}"] = _("At most %(n)d characters.", n=MAX_TEXT)
        else:
            found.append({"request_id": request["id"], "action": action, "note": note})
    return found


def parse_visit(form, *, household, residents, open_requests, categories, now, user_id, config):
    """Check a submitted visit. Returns (visit, new_requests, followups, errors by field)."""
    errors = {}
    if household.get("retired_at"):  # demolished or merged: kept with its history, visited no more
        errors["household_id"] = _("This household was retired; visits are no longer recorded for it.")
    uuid = (form.get("uuid") or "").strip()
    try:
        uuid = str(uuidlib.UUID(uuid))
    except ValueError:
        errors["uuid"] = _("The visit has no valid id; reload the form.")
    outcome = form.get("outcome") or ""
    if outcome not in rules.OUTCOMES:
        errors["outcome"] = _("Choose what happened at the door.")
    notes = (form.get("notes") or "").strip()
    if len(notes) > MAX_TEXT:
        errors["notes"] = _("Notes are limited to %(n)d characters (now %(m)d).", n=MAX_TEXT, m=len(notes))
    visited_at = _visited_at(form, now, errors)
    lat, lon, accuracy = _position(form, errors)
    reason = form.get("no_location_reason") or None
    if lat is None and reason not in NO_LOCATION_REASONS:
        reason = "unavailable"
    resident_ids = {r["id"] for r in residents}
    met = sorted({v for v in map(inputs.record_id, form.getlist("residents_met")) if v in resident_ids})
    new_requests = _new_requests(form, categories=categories, visit_uuid=uuid, visited_at=visited_at,
                                 user_id=user_id, errors=errors)
    followups = _followups(form, open_requests, errors)

    distance = None
    if lat is not None and household["point_lon"] is not None:
        distance = round(rules.distance_m(lon, lat, household["point_lon"], household["point_lat"]), 1)
    flag = rules.location_flag(distance if lat is not None else None, accuracy,
                               max_distance=config["LOCATION_MAX_DISTANCE_M"],
                               max_accuracy=config["LOCATION_MAX_ACCURACY_M"])
    visit = {
        "uuid": uuid, "household_id": household["id"], "user_id": user_id,
        "visited_at": rules.iso(visited_at), "received_at": rules.iso(now),
        "lat": lat, "lon": lon, "accuracy_m": accuracy, "distance_m": distance, "location_flag": flag,
        "no_location_reason": reason if lat is None else None, "outcome": outcome,
        "residents_met": json.dumps(met), "notes": notes,
        "payload_sha256": payload_digest(form, household["id"]),
    }
    return visit, new_requests, followups, errors


def parse_amendment(form, visit):
    """Check an amendment of visit. Returns (reason, new outcome or None, new notes or None, errors by field)."""
    errors = {}
    reason = (form.get("reason") or "").strip()
    outcome = form.get("outcome") or None
    notes = form.get("notes")
    if not reason:
        errors["reason"] = _("Say why the visit is amended.")
    elif len(reason) > MAX_TEXT:
        errors["reason"] = _("At most %(n)d characters.", n=MAX_TEXT)
    if outcome and outcome not in rules.OUTCOMES:
        errors["outcome"] = _("Choose what happened at the door.")
    if notes is not None and len(notes) > MAX_TEXT:
        errors["notes"] = _("Notes are limited to %(n)d characters (now %(m)d).", n=MAX_TEXT, m=len(notes))
    changed_outcome = outcome if outcome != visit["outcome"] else None
    changed_notes = notes.strip() if notes is not None and notes.strip() != visit["notes"] else None
    return reason, changed_outcome, changed_notes, errors
