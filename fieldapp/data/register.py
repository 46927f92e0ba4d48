"""The register as members keep it at the door: each change is one append-only record (register_changes) of
one field of one resident or household, applied in the same transaction, or kept as a conflict.

A change carries the value the phone saw (`before`). When the server's value is no longer that (another member,
a leader or an import changed it since the phone's copy was made) and is not already what the change asks for,
nothing is applied: the change is kept with state 'conflict' and the server's value, for the leader's review,
which applies it or keeps the server's value (resolve). A resend of the same uuid applies nothing again.

Kinds and their fields (values are text; None is "none"):
  resident_added      household  after: JSON {name, phone, birth_year, relation, gender, tags}; creates the resident
  resident_corrected  resident   field name | phone | birth_year | relation | gender
  tag_added           resident   field tag, after: the tag's code (it counts from `day`)
  tag_ended           resident   field tag, before: the tag's code (it stops counting from `day`)
  resident_left       resident   field status, after moved_out | deceased; `day` the day they left, moved_to
  household_vacant    household  field occupancy, after vacant (or moved_out)
  household_occupied  household  field occupancy, after occupied
  household_added     household  after: JSON of the new household (created before the change is recorded)
  household_retired   household  field retired, after: the reason (demolished, merged, ...)
"""
import json

from fieldapp import rules
from fieldapp.data import audit, visits
from fieldapp.data.db import in_clause, insert, one, rows, scalar, write

RESIDENT_FIELDS = ("name", "phone", "birth_year", "relation", "gender")
RESIDENT_KINDS = ("resident_corrected", "tag_added", "tag_ended", "resident_left")
HOUSEHOLD_KINDS = ("resident_added", "household_vacant", "household_occupied", "household_added",
                   "household_retired")
KINDS = RESIDENT_KINDS + HOUSEHOLD_KINDS
LEFT_REASONS = ("moved_out", "deceased")


def _text(value):
    """A value as register_changes keeps it: text, or None."""
    return None if value is None or value == "" else str(value)


def current_value(db, change):
    """The server's value of the field that change names (text or None), as `before` is compared with."""
    kind = change["kind"]
    if kind == "resident_corrected":
        field = change["field"]
        if field not in RESIDENT_FIELDS:
            raise ValueError(field)
        found = one(db, f"SELECT {field} AS value FROM residents WHERE id = ?", [change["resident_id"]])
        return _text(found["value"]) if found else None
    if kind in ("tag_added", "tag_ended"):
        code = change["after"] if kind == "tag_added" else change["before"]
        held = one(db, "SELECT 1 AS held FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id "
                       "WHERE rt.resident_id = ? AND t.code = ? AND rt.ended_on IS NULL", [change["resident_id"], code])
        return code if held else None
    if kind == "resident_left":
        found = one(db, "SELECT left_reason, moved_out_at FROM residents WHERE id = ?", [change["resident_id"]])
        return (found["left_reason"] or "moved_out") if found and found["moved_out_at"] else None
    if kind in ("household_vacant", "household_occupied"):
        return _text(one(db, "SELECT occupancy FROM households WHERE id = ?", [change["household_id"]])["occupancy"])
    if kind == "household_retired":
        found = one(db, "SELECT retired_at, retired_reason FROM households WHERE id = ?", [change["household_id"]])
        return _text(found["retired_reason"] or "retired") if found["retired_at"] else None
    return None  # resident_added, household_added: nothing was there before


def _seen(change):
    """What the phone saw, in current_value's terms."""
    if change["kind"] in ("tag_added", "resident_left", "household_retired"):
        return None  # asked of a tag not held, a resident still there, a household still standing
    return _text(change.get("before"))


def _wanted(change):
    """What the change asks for, in current_value's terms."""
    if change["kind"] == "tag_ended":
        return None
    if change["kind"] == "tag_added":
        return change["after"]
    return _text(change.get("after"))


def _apply(db, change):
    """Write the value change asks for into the register (inside the caller's transaction)."""
    kind, day = change["kind"], change["day"]
    if kind == "resident_corrected":
        value = change["after"]
        if change["field"] == "birth_year" and value is not None:
            value = int(value)
        db.execute(f"UPDATE residents SET {change['field']} = ? WHERE id = ?", [value, change["resident_id"]])
    elif kind == "tag_added":
        tag_id = one(db, "SELECT id FROM tags WHERE code = ?", [change["after"]])["id"]
        insert(db, "resident_tags", {"resident_id": change["resident_id"], "tag_id": tag_id, "started_on": day})
    elif kind == "tag_ended":
        # Never before its own start (a tag given today, ended by a phone that was offline since yesterday).
        db.execute("UPDATE resident_tags SET ended_on = CASE WHEN started_on > :day THEN started_on ELSE :day END "
                   "WHERE resident_id = :resident AND ended_on IS NULL AND tag_id = "
                   "(SELECT id FROM tags WHERE code = :code)",
                   {"day": day, "resident": change["resident_id"], "code": change["before"]})
    elif kind == "resident_left":
        # Their tags stop counting from that day; they leave the list of residents, not the history.
        db.execute("UPDATE resident_tags SET ended_on = CASE WHEN started_on > :day THEN started_on ELSE :day END "
                   "WHERE resident_id = :resident AND ended_on IS NULL", {"day": day, "resident": change["resident_id"]})
        db.execute("UPDATE residents SET moved_out_at = ?, left_reason = ?, moved_to = ? WHERE id = ?",
                   [day, change["after"], change.get("moved_to"), change["resident_id"]])
    elif kind in ("household_vacant", "household_occupied"):
        db.execute("UPDATE households SET occupancy = ? WHERE id = ?", [change["after"], change["household_id"]])
    elif kind == "household_retired":
        db.execute("UPDATE households SET retired_at = ?, retired_reason = ? WHERE id = ?",
                   [change["received_at"], change["after"], change["household_id"]])


def add_resident(db, household_id, person, *, day, at):
    """Create a resident of household_id from person {name, phone, birth_year, relation, gender, tags} with their
    tags counting from day; returns the new id (inside the caller's transaction)."""
    resident_id = insert(db, "residents", {
        "household_id": household_id, "name": person["name"], "phone": person.get("phone") or None,
        "birth_year": person.get("birth_year"), "relation": person.get("relation") or None,
        "gender": person.get("gender") or None, "created_at": at})
    for code in person.get("tags") or ():
        tag_id = one(db, "SELECT id FROM tags WHERE code = ?", [code])["id"]
        insert(db, "resident_tags", {"resident_id": resident_id, "tag_id": tag_id, "started_on": day})
    return resident_id


def record(db, change):
    """Record one change in its own transaction: applied, already applied, or kept as a conflict.

    change: uuid, household_id, resident_id (resident kinds), visit_id (or None), user_id, made_at, received_at,
    day (the local day it takes effect), kind, field, before, after, reason, moved_to (resident_left),
    payload_sha256; for resident_added `person` (the new resident), for household_added nothing more (the
    household is created by the caller in the same transaction: call record_in inside it).
    Returns (result, change_id): "created", "existing" (this uuid was recorded before with the same content, or
    the register already holds what it asks for: nothing written), "conflict" (kept, not applied), or "mismatch"
    (this uuid is known with other content: nothing written).
    """
    with write(db):
        return record_in(db, change)


def record_in(db, change):
    """record, inside the caller's transaction (a visit's, a new household's)."""
    # PostgreSQL: the household's row is the lock that makes a resend arriving at the same moment wait for the
    # first to commit and then find its uuid (SQLite's one writer holds the whole database).
    one(db, f"SELECT id FROM households WHERE id = ?{db.dialect.for_update}", [change["household_id"]])
    known = one(db, "SELECT id, payload_sha256 FROM register_changes WHERE uuid = ?", [change["uuid"]])
    if known:
        return ("existing" if known["payload_sha256"] == change.get("payload_sha256") else "mismatch"), known["id"]
    state, server_value = "applied", None
    if change["kind"] not in ("resident_added", "household_added"):
        now_value = current_value(db, change)
        if now_value == _wanted(change):
            return "existing", None  # someone did it already: nothing to apply, nothing to review
        if now_value != _seen(change):
            state, server_value = "conflict", now_value
    resident_id = change.get("resident_id")
    if change["kind"] == "resident_added":
        resident_id = add_resident(db, change["household_id"], change["person"], day=change["day"],
                                   at=change["received_at"])
    elif state == "applied":
        _apply(db, change)
    row = {key: change.get(key) for key in ("uuid", "household_id", "visit_id", "user_id", "made_at", "received_at",
                                             "kind", "field", "reason", "payload_sha256")}
    after = json.dumps(change["person"], ensure_ascii=False) if change["kind"] == "resident_added" else change.get("after")
    row.update(resident_id=resident_id, before=_text(change.get("before")), after=_text(after),
               server_value=server_value, state=state, resolves_id=change.get("resolves_id"))
    if change["kind"] == "resident_left":  # the day they left, and where to, are part of what was asked
        row["after"] = json.dumps({"status": change["after"], "day": change["day"], "moved_to": change.get("moved_to")},
                                  ensure_ascii=False)
    change_id = insert(db, "register_changes", row)
    return ("conflict" if state == "conflict" else "created"), change_id


def resolve(db, change_id, *, user_id, at, day, apply, note=None):
    """A leader's decision on a conflicting change: apply it over the server's value now (a new applied change
    that names the conflict) or keep the server's value; either way a review event. Returns the new change id
    (None when the server's value is kept). Raises ValueError if change_id is no unresolved conflict."""
    with write(db):
        conflict = one(db, "SELECT * FROM register_changes WHERE id = ? AND state = 'conflict'", [change_id])
        if conflict is None or one(db, "SELECT 1 AS done FROM review_events WHERE subject = 'change' "
                                       "AND subject_id = ? AND action IN ('apply', 'keep')", [change_id]):
            raise ValueError("not an unresolved conflict")
        insert(db, "review_events", {"subject": "change", "subject_id": change_id, "user_id": user_id, "at": at,
                                     "action": "apply" if apply else "keep", "note": note})
        if not apply:
            return None
        change = {**conflict, "uuid": f"{conflict['uuid']}/applied", "user_id": user_id, "made_at": at,
                  "received_at": at, "day": day, "before": current_value(db, conflict), "resolves_id": change_id,
                  "reason": conflict["reason"], "payload_sha256": None}
        if conflict["kind"] == "resident_left" and (conflict["after"] or "").startswith("{"):
            left = json.loads(conflict["after"])
            change.update(after=left["status"], day=left["day"], moved_to=left.get("moved_to"))
        _apply(db, change)
        row = {key: change.get(key) for key in ("uuid", "household_id", "resident_id", "visit_id", "user_id",
                                                 "made_at", "received_at", "kind", "field", "before", "reason",
                                                 "resolves_id")}
        row.update(after=conflict["after"], state="applied")
        return insert(db, "register_changes", row)


def any_recorded(db, uuids):
    """Whether a change with one of uuids was recorded."""
    params = {}
    return bool(uuids) and one(db, f"SELECT 1 AS found FROM register_changes WHERE "
                                   f"{in_clause('uuid', list(uuids), params, 'uuid')} LIMIT 1", params) is not None


def record_all(db, changes, *, ip=None, visit_id=None):
    """Record changes (each as record_in takes it) inside the caller's transaction, each created or kept one with
    its audit entry (ids and field names only); returns [(result, change_id)] in order."""
    results = []
    with write(db):
        for change in changes:
            if visit_id is not None:
                change = {**change, "visit_id": visit_id}
            result, change_id = record_in(db, change)
            if result in ("created", "conflict"):
                audit.log(db, user_id=change["user_id"], action="register_change", target_type="household",
                          target_id=change["household_id"], ip=ip, detail={
                              "change": change_id, "kind": change["kind"], "field": change.get("field"),
                              "state": "conflict" if result == "conflict" else "applied",
                              "resident": change.get("resident_id"), "visit": change.get("visit_id")})
            results.append((result, change_id))
    return results


def record_visit(db, visit, new_requests=(), followups=(), changes=(), *, ip=None):
    """Record a visit and the register changes learnt at its door in one transaction: the changes carry the
    visit's id, and are applied only when the visit is new. Returns (visit result, visit id, change results)."""
    with write(db):
        result, visit_id = visits.record(db, visit, new_requests, followups)
        if result != "created":
            return result, visit_id, []
        return result, visit_id, record_all(db, changes, ip=ip, visit_id=visit_id)


def add_household(db, household, change, *, ip=None):
    """Create a household found at the door (its external_id made from the change's uuid) and record it as the
    change household_added, in one transaction; a resend of the same uuid creates nothing. Returns
    (result, household id)."""
    with write(db):
        known = one(db, "SELECT household_id, payload_sha256 FROM register_changes WHERE uuid = ?", [change["uuid"]])
        if known:
            same = known["payload_sha256"] == change.get("payload_sha256")
            return ("existing" if same else "mismatch"), known["household_id"]
        household_id = insert(db, "households", {**household, "external_id": f"field-{change['uuid']}",
                                                 "occupancy": "occupied", "created_at": change["received_at"]})
        after = json.dumps({key: household.get(key) for key in ("cell_id", "building_id", "unit", "room", "address")},
                           ensure_ascii=False)
        record_all(db, [{**change, "household_id": household_id, "after": after}], ip=ip)
        return "created", household_id


def by_uuid(db, uuid):
    """The change recorded under uuid (id, state, payload_sha256, household and resident), or None."""
    return one(db, "SELECT id, uuid, state, payload_sha256, household_id, resident_id, visit_id "
                   "FROM register_changes WHERE uuid = ?", [uuid])


def residents(db, household_id):
    """A household's current residents as the register's forms show them, each with its tag codes (a list)."""
    found = rows(db, "SELECT id, household_id, name, phone, birth_year, relation FROM residents "
                     "WHERE household_id = ? AND moved_out_at IS NULL ORDER BY id", [household_id])
    params = {}
    held = rows(db, f"SELECT rt.resident_id, t.code FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id "
                    f"WHERE rt.ended_on IS NULL AND {in_clause('rt.resident_id', [r['id'] for r in found], params, 'r')} "
                    f"ORDER BY t.id", params)
    for resident in found:
        resident["tags"] = [h["code"] for h in held if h["resident_id"] == resident["id"]]
    return found


def tags(db):
    """Every tag a resident can be given: code, label, cycle, shortest cycle first."""
    return rows(db, "SELECT code, label, cycle_days FROM tags ORDER BY cycle_days IS NULL, cycle_days, id")


def room_taken(db, building_id, unit, room):
    """Whether a household that stands (not retired) already has this unit and room in the building."""
    return scalar(db, "SELECT count(*) FROM households WHERE building_id = ? AND coalesce(unit, '') = ? "
                      "AND room = ? AND retired_at IS NULL", [building_id, unit or "", room]) > 0


def cells_named(db, cell_ids):
    """The cells of cell_ids (None: all) with their names, for choosing where a new household lies."""
    params = {}
    return rows(db, f"SELECT id, name, code FROM cells WHERE {in_clause('id', cell_ids, params, 'c')} "
                    f"ORDER BY code", params)


def building(db, building_id):
    """One building (id, cell, name), or None."""
    return one(db, "SELECT id, cell_id, name FROM buildings WHERE id = ?", [building_id])


def history(db, household_id, limit=200):
    """A household's register changes, newest first, with the author and the resident's name."""
    return rows(db, "SELECT c.*, u.display_name AS author, r.name AS resident_name FROM register_changes c "
                    "JOIN users u ON u.id = c.user_id LEFT JOIN residents r ON r.id = c.resident_id "
                    "WHERE c.household_id = ? ORDER BY c.id DESC LIMIT ?", [household_id, limit])


def day_of(made_at, clock):
    """The local day of a device time (UTC text) in the community's zone."""
    return rules.local_date(made_at, rules.clock_zone(clock)).isoformat()
