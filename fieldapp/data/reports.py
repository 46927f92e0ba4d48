"""Residents' own reports: the QR posters' tokens, a report entering the ledger with its tracking code, the
throttle, what the tracking page may show, the resident's rating, and the triage of new reports."""
import json
import secrets
from datetime import timedelta

from fieldapp import rules
from fieldapp.data import ledger, photos
from fieldapp.data.coverage import cells_clause
from fieldapp.data.db import in_clause, insert, insert_many, one, rows, scalar, write
from fieldapp.data.ledger import CELL, PLACE, place_in
from fieldapp.data.status import IN_REGISTER

# Tracking codes are typed from a phone's screen: no 0/O, 1/I/L; 31 ** 10 codes leave nothing to guess.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TRACKING_LENGTH = 10
OPEN = ("open", "in_progress")
CONTACT_DAYS = 90  # a resident's call-back contact is kept this long after their report closed (the consent says so)
DUPLICATE_DAYS = 7  # the triage list hints at an open request of the same place and category this recent


def new_token():
    """An unguessable token for a poster's link."""
    return secrets.token_urlsafe(16)


def new_tracking_code():
    """An unguessable tracking code, short enough to type."""
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def normal_code(raw):
    """A typed tracking code in its stored form (capitals, without spaces or dashes), or None if it cannot be one."""
    code = "".join((raw or "").split()).replace("-", "").upper()
    if len(code) != TRACKING_LENGTH or any(ch not in TRACKING_ALPHABET for ch in code):
        return None
    return code


# --- Posters -------------------------------------------------------------------------------------------------

_LIVE = "t.revoked_at IS NULL"


def places(db, cell_ids):
    """The cells of cell_ids (None: all) with their buildings, each with its live poster token (or None)."""
    params = {}
    cells = rows(db, f"SELECT c.id, c.name, c.code, t.token FROM cells c LEFT JOIN report_tokens t "
                     f"ON t.cell_id = c.id AND {_LIVE} WHERE {cells_clause(cell_ids, params, column='c.id')} "
                     "ORDER BY c.name, c.id", params)
    params = {}
    buildings = rows(db, f"SELECT b.id, b.name, b.cell_id, t.token FROM buildings b LEFT JOIN report_tokens t "
                         f"ON t.building_id = b.id AND {_LIVE} WHERE {cells_clause(cell_ids, params, column='b.cell_id')} "
                         "ORDER BY b.name, b.id", params)
    by_cell = {c["id"]: {**c, "buildings": []} for c in cells}
    for building in buildings:
        by_cell[building["cell_id"]]["buildings"].append(building)
    return list(by_cell.values())


def place(db, kind, place_id):
    """A building ("building") or cell ("cell") with its cell, grid and live token, or None."""
    if kind == "building":
        return one(db, f"SELECT b.id, b.name, b.cell_id, c.name AS cell_name, c.grid_id, t.token FROM buildings b "
                       f"JOIN cells c ON c.id = b.cell_id LEFT JOIN report_tokens t ON t.building_id = b.id AND {_LIVE} "
                       "WHERE b.id = ?", [place_id])
    if kind == "cell":
        return one(db, f"SELECT c.id, c.name, c.id AS cell_id, c.name AS cell_name, c.grid_id, t.token FROM cells c "
                       f"LEFT JOIN report_tokens t ON t.cell_id = c.id AND {_LIVE} WHERE c.id = ?", [place_id])
    return None


def replace_token(db, kind, place_id, *, user_id, at):
    """Revoke the place's live token (if any) and make its next one, in one transaction; return the new token."""
    column = {"building": "building_id", "cell": "cell_id"}[kind]
    token = new_token()
    with write(db):
        db.execute(f"UPDATE report_tokens SET revoked_at = ?, revoked_by = ? WHERE {column} = ? AND revoked_at IS NULL",
                   [at, user_id, place_id])
        insert(db, "report_tokens", {"token": token, column: place_id, "created_by": user_id, "created_at": at},
               returning=None)
    return token


def revoke_token(db, kind, place_id, *, user_id, at):
    """Revoke the place's live token: its posters' link then answers "not found". Returns whether one was live."""
    column = {"building": "building_id", "cell": "cell_id"}[kind]
    with write(db):
        return db.execute(f"UPDATE report_tokens SET revoked_at = ?, revoked_by = ? WHERE {column} = ? "
                          "AND revoked_at IS NULL", [at, user_id, place_id]).rowcount > 0


def make_missing_tokens(db, cell_ids, *, user_id, at):
    """Give every building of cell_ids that has no live token one; return how many were made."""
    with write(db):
        params = {}
        missing = rows(db, f"SELECT b.id FROM buildings b LEFT JOIN report_tokens t ON t.building_id = b.id AND {_LIVE} "
                           f"WHERE t.id IS NULL AND {cells_clause(cell_ids, params, column='b.cell_id')}", params)
        insert_many(db, "report_tokens", [{"token": new_token(), "building_id": b["id"], "created_by": user_id,
                                           "created_at": at} for b in missing])
    return len(missing)


def token_place(db, token):
    """The live token's place: token id, building_id or cell_id, the name a resident sees, the cell; or None."""
    return one(db, "SELECT t.id, t.building_id, t.cell_id, coalesce(b.name, c.name) AS name, c.id AS place_cell "
                   "FROM report_tokens t LEFT JOIN buildings b ON b.id = t.building_id "
                   "JOIN cells c ON c.id = coalesce(b.cell_id, t.cell_id) WHERE t.token = ? AND t.revoked_at IS NULL",
               [token])


# --- The throttle --------------------------------------------------------------------------------------------

def place_key(found):
    """The throttle's name for a token's place (the same across a replaced token)."""
    return f"building:{found['building_id']}" if found["building_id"] else f"cell:{found['cell_id']}"


def throttled(db, address_hash, place_name, now, *, per_address, address_minutes, per_place, place_minutes):
    """Whether one more report from address_hash or for place_name would pass its limit."""
    from_address = scalar(db, "SELECT count(*) FROM report_throttle WHERE address_hash = ? AND at >= ?",
                          [address_hash, rules.iso(now - timedelta(minutes=address_minutes))])
    if from_address >= per_address:
        return True
    return scalar(db, "SELECT count(*) FROM report_throttle WHERE place = ? AND at >= ?",
                  [place_name, rules.iso(now - timedelta(minutes=place_minutes))]) >= per_place


def note_attempt(db, address_hash, place_name, now):
    """Count a report (or a caught robot) for the throttle, forgetting what is older than a day."""
    with write(db):
        db.execute("DELETE FROM report_throttle WHERE at < ?", [rules.iso(now - timedelta(days=1))])
        insert(db, "report_throttle", {"at": rules.iso(now), "address_hash": address_hash, "place": place_name},
               returning=None)


# --- A report ------------------------------------------------------------------------------------------------

def record(db, *, uuid, found, category, description, name, phone, consent_at, due_date, at, address_hash,
           photo=None, store=None):
    """Enter a resident's report in the ledger (channel 'resident', on the token's place, waiting for triage)
    with its first event, its tracking code and its photo ((client sha256, photos.Prepared), kept in store), and
    count it for the throttle; in one transaction. A resent form adds nothing. Returns (created, tracking code)."""
    with write(db):
        request_id = insert(db, "requests", {
            "uuid": uuid, "household_id": None, "building_id": found["building_id"], "cell_id": found["cell_id"],
            "visit_id": None, "category": category, "description": description, "status": "open",
            "responsible_user_id": None, "due_date": due_date, "channel": "resident", "created_by": None,
            "created_at": at, "updated_at": at}, unless="uuid")
        if request_id is None:
            return False, scalar(db, "SELECT r.tracking_code FROM resident_reports r JOIN requests q "
                                     "ON q.id = r.request_id WHERE q.uuid = ?", [uuid])
        code = new_tracking_code()
        insert(db, "resident_reports", {"request_id": request_id, "tracking_code": code, "token_id": found["id"],
                                        "name": name, "phone": phone, "consent_at": consent_at, "received_at": at},
               returning=None)
        insert(db, "request_events", {"request_id": request_id, "user_id": None, "at": at, "kind": "created",
                                      "from_status": None, "to_status": "open", "note": description,
                                      "data": json.dumps({"channel": "resident"})}, returning=None)
        if photo is not None:
            photos.add(db, store, photo[1], kind="report", record_uuid=uuid, client_sha256=photo[0], user_id=None,
                       now=rules.parse_iso(at), request_id=request_id)
        note_attempt(db, address_hash, place_key(found), rules.parse_iso(at))
    return True, code


def tracked(db, code):
    """What the tracking page shows of the report with tracking code: status, category, the public replies, and
    whether the resident may rate now (the id of the resolution to rate, or None); None for an unknown code."""
    found = one(db, "SELECT q.id, q.status, q.category, q.created_at FROM resident_reports r "
                    "JOIN requests q ON q.id = r.request_id WHERE r.tracking_code = ?", [code])
    if found is None:
        return None
    history = rows(db, "SELECT id, at, kind, to_status, data FROM request_events WHERE request_id = ? "
                       "ORDER BY at, id", [found["id"]])
    found["replies"] = []
    resolution = None
    for event in history:
        data = json.loads(event["data"] or "{}")
        if data.get("reply"):
            found["replies"].append({"at": event["at"], "text": data["reply"]})
        if event["kind"] == "resolved":
            resolution = event["id"]
    rated = resolution is not None and scalar(
        db, "SELECT count(*) FROM report_ratings WHERE resolved_event_id = ?", [resolution]) > 0
    found["rate_resolution"] = resolution if found["status"] == "resolved" and not rated else None
    return found


def rate(db, code, *, satisfied, comment, at):
    """The resident's rating of the latest resolution: satisfied closes the request, not satisfied reopens it, as a
    return visit does; once per resolution, in one transaction. Returns False when there is nothing to rate."""
    with write(db):
        found = tracked(db, code)
        if found is None or found["rate_resolution"] is None:
            return False
        if insert(db, "report_ratings", {"request_id": found["id"], "resolved_event_id": found["rate_resolution"],
                                         "satisfied": int(satisfied), "comment": comment, "at": at},
                  unless="resolved_event_id") is None:
            return False
        ledger.apply(db, found["id"], "confirm" if satisfied else "reopen", user_id=None, at=at, note=comment,
                     data={"channel": "resident"})
    return True


# --- Triage --------------------------------------------------------------------------------------------------

def waiting_count(db, cell_ids):
    """How many residents' reports of cell_ids (None: all) wait for triage."""
    params = {}
    return scalar(db, f"SELECT count(*) FROM resident_reports r JOIN requests q ON q.id = r.request_id {PLACE}"
                      f"WHERE r.triaged_at IS NULL AND q.status IN ('open', 'in_progress') "
                      f"AND {place_in(cell_ids, params)}", params)


def waiting(db, cell_ids, now, limit=100):
    """The open reports of cell_ids waiting for triage (one resolved in the ledger meanwhile has left), oldest
    first, each with its place, the households it may be linked to (its building's) and the open requests of the
    same place and category of the last 7 days."""
    params = {"limit": limit}
    found = rows(db, "SELECT q.id, q.version, q.category, q.description, q.due_date, q.building_id, q.cell_id, "
                     f"r.received_at, r.name, r.phone, coalesce(b.name, c.name) AS place_name, {CELL} AS place_cell, "
                     f"c.name AS cell_name FROM resident_reports r JOIN requests q ON q.id = r.request_id {PLACE}"
                     f"JOIN cells c ON c.id = {CELL} WHERE r.triaged_at IS NULL AND q.status IN ('open', 'in_progress') "
                     f"AND {place_in(cell_ids, params)} ORDER BY r.received_at, q.id LIMIT :limit",
                 params)
    buildings = sorted({r["building_id"] for r in found if r["building_id"]})
    lanes = sorted({r["cell_id"] for r in found if r["cell_id"]})
    households, similar = {}, []
    if buildings:
        params = {}
        for h in rows(db, "SELECT h.id, h.address, h.building_id FROM households h WHERE "
                          f"{in_clause('h.building_id', buildings, params, 'b')} AND h.retired_at IS NULL "
                          "ORDER BY h.address, h.id", params):
            households.setdefault(h["building_id"], []).append(h)
    since = rules.iso(now - timedelta(days=DUPLICATE_DAYS))
    if buildings or lanes:
        params = {"since": since, "open1": OPEN[0], "open2": OPEN[1]}
        places = [in_clause("q.building_id", buildings, params, "b"),
                  "q.household_id IN (SELECT h.id FROM households h WHERE "
                  f"{in_clause('h.building_id', buildings, params, 'hb')})",
                  in_clause("q.cell_id", lanes, params, "c")]
        similar = rows(db, "SELECT q.id, q.category, q.description, q.created_at, coalesce(h.building_id, q.building_id) "
                           "AS building_id, q.cell_id FROM requests q LEFT JOIN households h ON h.id = q.household_id "
                           f"WHERE ({' OR '.join(places)}) AND q.status IN (:open1, :open2) AND q.created_at >= :since "
                           "ORDER BY q.created_at DESC, q.id DESC", params)
    for report in found:
        report["households"] = households.get(report["building_id"], [])
        report["phone"] = rules.mask_phone(report["phone"])
        report["similar"] = [s for s in similar if s["id"] != report["id"] and s["category"] == report["category"]
                             and ((report["building_id"] and s["building_id"] == report["building_id"])
                                  or (report["cell_id"] and s["cell_id"] == report["cell_id"]))][:3]
    return found


def contact(db, request_id):
    """The call-back name and phone a resident left with the report request_id (both may be None), or None."""
    return one(db, "SELECT request_id, name, phone FROM resident_reports WHERE request_id = ?", [request_id])


def building_households(db, building_id):
    """The households of building_id in the register, for a report to be linked to."""
    return rows(db, f"SELECT h.id, h.address FROM households h WHERE h.building_id = ? AND {IN_REGISTER} "
                    "ORDER BY h.address, h.id", [building_id])


def waiting_report(db, request_id):
    """The waiting report request_id (id, version, building_id, cell_id, place_cell, grid_id), or None."""
    return one(db, f"SELECT q.id, q.version, q.building_id, q.cell_id, {CELL} AS place_cell, c.grid_id "
                   f"FROM resident_reports r JOIN requests q ON q.id = r.request_id {PLACE}"
                   f"JOIN cells c ON c.id = {CELL} WHERE r.request_id = ? AND r.triaged_at IS NULL "
                   "AND q.status IN ('open', 'in_progress')", [request_id])


def triage(db, request_id, outcome, *, user_id, at, version, reply=None, household_id=None, category=None,
           due_date=None, responsible_user_id=None, duplicate_of=None):
    """Triage a waiting report in one transaction: "accepted" (onto household_id or kept on its place, with its
    category, due date and responsible person), "duplicate" (closed, pointing to duplicate_of) or "not_ours"
    (closed); reply goes to the resident's tracking page. Raises ledger.StaleRequest when it was triaged or changed
    meanwhile; nothing is written then."""
    with write(db):
        request = one(db, "SELECT q.status, q.version FROM requests q JOIN resident_reports r ON r.request_id = q.id "
                          f"WHERE q.id = ? AND r.triaged_at IS NULL AND q.status IN ('open', 'in_progress')"
                          f"{db.dialect.for_update}", [request_id])
        if request is None or request["version"] != version:
            raise ledger.StaleRequest(request_id)
        data = {"triage": outcome, "reply": reply}
        if outcome == "accepted":
            changes = {"category": category, "due_date": due_date, "responsible_user_id": responsible_user_id}
            if household_id is not None:
                changes.update(household_id=household_id, building_id=None, cell_id=None)
            data.update(changes)
            status, kind = request["status"], "triaged"
        else:
            changes, status, kind = {"status": "closed"}, "closed", "closed"
            data["duplicate_of"] = duplicate_of
        db.execute(f"UPDATE requests SET {''.join(f'{k} = :{k}, ' for k in changes)}updated_at = :at, "
                   "version = version + 1 WHERE id = :id", {**changes, "at": at, "id": request_id})
        db.execute("UPDATE resident_reports SET triaged_at = ?, triaged_by = ?, outcome = ?, duplicate_of = ? "
                   "WHERE request_id = ?", [at, user_id, outcome, duplicate_of, request_id])
        insert(db, "request_events", {"request_id": request_id, "user_id": user_id, "at": at, "kind": kind,
                                      "from_status": request["status"], "to_status": status, "note": reply,
                                      "data": json.dumps({k: v for k, v in data.items() if v is not None},
                                                         ensure_ascii=False)}, returning=None)
    return request["version"] + 1


def duplicate_target(db, request_id, cell_ids):
    """The open request request_id if it lies in cell_ids (None: all), for a duplicate to point to; else None."""
    params = {"id": request_id, "open1": OPEN[0], "open2": OPEN[1]}
    return one(db, f"SELECT q.id FROM requests q {PLACE}WHERE q.id = :id AND q.status IN (:open1, :open2) "
                   f"AND {place_in(cell_ids, params)}", params)


def forget_contacts(db, before):
    """Remove the name and phone of residents' reports whose request closed before the UTC timestamp before;
    return how many (the retention the report page promises)."""
    with write(db):
        return db.execute("UPDATE resident_reports SET name = NULL, phone = NULL "
                          "WHERE (name IS NOT NULL OR phone IS NOT NULL) "
                          "AND request_id IN (SELECT id FROM requests WHERE status = 'closed' AND updated_at < ?)",
                          [before]).rowcount
