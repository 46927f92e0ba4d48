"""Partners (service platforms and mass organisations) and the referrals they answer: opened by the ledger's
"refer" step, each partner step an event on the request in one transaction, and the late ones by platform."""
import json
from datetime import date

from fieldapp import referrals as rules_of
from fieldapp.data import places
from fieldapp.data.coverage import cells_clause
from fieldapp.data.db import insert, one, rows, write


def _place():
    """The joins that give a request q its place (household h, building b, cell c), and its address."""
    return f"{places.PLACE}JOIN cells c ON c.id = {places.CELL} ", f"{places.PLACE_NAME}"


class StaleReferral(Exception):
    """The request changed since the partner's page was loaded: nothing was written."""


def partners(db):
    """Every partner platform, in the ledger's order."""
    return rows(db, "SELECT id, code, name, kind FROM partners ORDER BY position, id")


def get(db, partner_id):
    """The partner with partner_id, or None."""
    return one(db, "SELECT id, code, name, kind FROM partners WHERE id = ?", [partner_id])


def refer(db, request_id, code, *, user_id, at, today, due_date):
    """Open a referral of request_id to the partner with code, in the caller's transaction: an open referral to
    another platform is withdrawn, one to the same platform stays as it is. Returns the referral's id."""
    partner = one(db, "SELECT id FROM partners WHERE code = ?", [code])
    current = one(db, "SELECT id, partner_id FROM referrals WHERE request_id = ? AND state IN (?, ?, ?)",
                  [request_id, *rules_of.OPEN_STATES])
    if current and current["partner_id"] == partner["id"]:
        return current["id"]
    if current:
        db.execute("UPDATE referrals SET state = 'withdrawn', ended_at = ? WHERE id = ?", [at, current["id"]])
    referred = date.fromisoformat(today)
    return insert(db, "referrals", {
        "request_id": request_id, "partner_id": partner["id"], "referred_by": user_id, "referred_at": at,
        "accept_by": rules_of.accept_by(referred).isoformat(),
        "answer_by": rules_of.answer_by(date.fromisoformat(due_date), referred).isoformat(), "state": "referred"})


_REFERRAL_COLUMNS = ("r.id AS referral_id, r.state, r.referred_at, r.accept_by, r.answer_by, r.accepted_at, "
                     "r.answered_at, r.ended_at, r.reason, r.partner_id, p.name AS partner_name, "
                     "p.code AS partner_code, rb.display_name AS referred_by_name")
_REFERRAL_FROM = "FROM referrals r JOIN partners p ON p.id = r.partner_id JOIN users rb ON rb.id = r.referred_by "


def current(db, request_id):
    """The request's latest referral (any state) with its platform, or None."""
    return one(db, f"SELECT {_REFERRAL_COLUMNS} {_REFERRAL_FROM}WHERE r.request_id = ? ORDER BY r.id DESC LIMIT 1",
               [request_id])


# A partner sees what was referred to it and not taken back: open, or done (for the record).
_SEEN = "('referred', 'accepted', 'info_requested', 'done')"


def listing(db, partner_id):
    """The requests referred to partner_id that it still sees: those to act on first, by the day to answer."""
    place, address = _place()
    return rows(db, f"SELECT {_REFERRAL_COLUMNS}, q.id, q.category, q.description, q.status, q.due_date, "
                    f"{address} AS address {_REFERRAL_FROM}JOIN requests q ON q.id = r.request_id {place}"
                    f"WHERE r.partner_id = ? AND r.state IN {_SEEN} "
                    "ORDER BY CASE r.state WHEN 'done' THEN 1 ELSE 0 END, r.answer_by, r.id", [partner_id])


def for_partner(db, partner_id, request_id):
    """The request as its partner sees it (the minimum: no resident's name or phone) with the referral, or
    None when it is not referred to partner_id (or was handed back or withdrawn)."""
    place, address = _place()
    return one(db, f"SELECT {_REFERRAL_COLUMNS}, q.id, q.category, q.description, q.status, q.due_date, "
                   f"q.version, q.created_at, {address} AS address, u.display_name AS responsible "
                   f"{_REFERRAL_FROM}JOIN requests q ON q.id = r.request_id "
                   f"{place}LEFT JOIN users u ON u.id = q.responsible_user_id "
                   f"WHERE r.partner_id = ? AND r.request_id = ? AND r.state IN {_SEEN} ORDER BY r.id DESC LIMIT 1",
               [partner_id, request_id])


def events(db, referral_id, request_id):
    """The events of one referral, oldest first: what the partner sees of the request's history."""
    found = rows(db, "SELECT e.at, e.kind, e.note, e.data, u.display_name AS who FROM request_events e "
                     "JOIN users u ON u.id = e.user_id WHERE e.request_id = ? ORDER BY e.at, e.id", [request_id])
    shown = []
    for event in found:
        event["data"] = json.loads(event["data"] or "{}")
        if event["data"].get("referral_id") == referral_id:
            shown.append(event)
    return shown


def act(db, referral_id, name, *, user_id, at, version, note=None):
    """Take the partner's step name on a referral, with its event on the request, in one transaction.

    Raises StaleReferral (the request's version moved on) or referrals.IllegalStep; nothing is written then.
    Returns the referral's new state.
    """
    with write(db):
        referral = one(db, "SELECT r.id, r.request_id, r.state, r.answered_at, r.accepted_at, p.code "
                           "FROM referrals r JOIN partners p ON p.id = r.partner_id "
                           f"WHERE r.id = ?{db.dialect.for_update}", [referral_id])
        request = one(db, f"SELECT id, status, version FROM requests WHERE id = ?{db.dialect.for_update}",
                      [referral["request_id"]])
        if request["version"] != version:
            raise StaleReferral(referral_id)
        state = rules_of.step(referral["state"], name)
        changes = {"state": state}
        if name == "accept":
            changes["accepted_at"] = at
        if name in ("reply", "done") and referral["answered_at"] is None:
            changes["answered_at"] = at
        if name in ("hand_back", "done"):
            changes["ended_at"] = at
        if name == "hand_back":
            changes["reason"] = note
        db.execute(f"UPDATE referrals SET {', '.join(f'{k} = :{k}' for k in changes)} WHERE id = :id",
                   {**changes, "id": referral_id})
        status = rules_of.REQUEST_AFTER.get(name, {}).get(request["status"], request["status"])
        # Handed back, the request is nobody's referral any more: the leader may refer it again.
        referral_sql = ", referral = NULL" if name == "hand_back" else ""
        db.execute(f"UPDATE requests SET status = ?, updated_at = ?, version = version + 1{referral_sql} "
                   "WHERE id = ?", [status, at, request["id"]])
        insert(db, "request_events", {
            "request_id": request["id"], "user_id": user_id, "at": at, "kind": f"partner_{name}",
            "from_status": request["status"], "to_status": status, "note": note, "visit_id": None,
            "data": json.dumps({"referral_id": referral_id, "partner": referral["code"], "state": state},
                               ensure_ascii=False)})
        return state


def late(db, cell_ids, today):
    """The referrals of cell_ids' requests that are late on today (not accepted or not answered in time), each
    with its platform, request and why."""
    params = {"today": today}
    place, address = _place()
    found = rows(db, "SELECT r.id, r.state, r.accept_by, r.answer_by, r.answered_at, p.id AS partner_id, "
                     f"p.name AS partner_name, q.id AS request_id, q.category, {address} AS address "
                     "FROM referrals r JOIN partners p ON p.id = r.partner_id JOIN requests q ON q.id = r.request_id "
                     f"{place}WHERE r.state IN ('referred', 'accepted', 'info_requested') "
                     "AND (r.accept_by < :today OR r.answer_by < :today) "
                     f"AND {cells_clause(cell_ids, params, column=places.CELL)} "
                     "ORDER BY p.position, r.answer_by, r.id", params)
    on_day = date.fromisoformat(today)
    result = []
    for referral in found:
        why = rules_of.lateness({"state": referral["state"], "accept_by": date.fromisoformat(referral["accept_by"]),
                                 "answer_by": date.fromisoformat(referral["answer_by"]),
                                 "answered": referral["answered_at"] is not None}, on_day)
        if why:
            limit = referral["accept_by"] if why == "accept" else referral["answer_by"]
            result.append({**referral, "why": why, "days_late": (on_day - date.fromisoformat(limit)).days})
    return result


def late_by_partner(late_referrals):
    """Late referrals per platform: how many not accepted and not answered in time, the most days late."""
    groups = {}
    for referral in late_referrals:
        group = groups.setdefault(referral["partner_id"], {"name": referral["partner_name"], "not_accepted": 0,
                                                           "not_answered": 0, "most_late": 0})
        group["not_accepted" if referral["why"] == "accept" else "not_answered"] += 1
        group["most_late"] = max(group["most_late"], referral["days_late"])
    return list(groups.values())
