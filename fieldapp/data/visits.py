"""Visits: recorded once per phone-made uuid, append-only, with the requests raised and followed up."""
import json

from fieldapp import rules
from fieldapp.data import ledger, photos
from fieldapp.data.db import insert, one, rows, write
from fieldapp.data.status import listed
# A visit's outcome as it stands (after an amendment) and whether it counts (not rejected in review); read as
# visits.STANDING_JOIN, visits.OUTCOME_NOW, visits.COUNTS too.
from fieldapp.data.standing import COUNTS, OUTCOME_NOW, STANDING_JOIN  # noqa: F401


def record(db, visit, new_requests=(), followups=()):
    """Record a visit with its new requests and follow-ups in one transaction.

    Returns (outcome, visit_id): "created"; "existing" when the same uuid with the same content was
    recorded before (a resend); "conflict" when the uuid is known with other content (nothing written).
    """
    moves, moved = _household_moves(visit)
    if db.dialect.name == "postgresql" and not new_requests and not followups:
        # Most visits raise and follow up nothing: the visit, its household's status and the photos sent before
        # it (attached as photos.attach_visit attaches them) go in one statement, a transaction of its own (or
        # the caller's), in one round trip; prepared, it is planned once per connection.
        columns = list(visit)
        added = db.execute(f"""WITH added AS (
                INSERT INTO visits ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})
                ON CONFLICT (uuid) DO NOTHING RETURNING id),
            moved AS (UPDATE households SET {moves} FROM added WHERE households.id = :household),
            attached AS (UPDATE photos SET state = 'attached', visit_id = added.id FROM added
                WHERE photos.record_uuid = :uuid AND photos.kind = 'visit' AND photos.state = 'pending'
                AND photos.user_id = :user_id)
            SELECT id FROM added""", {**visit, **moved}, prepare=True).fetchone()
        return ("created", added[0]) if added else _known(db, visit)
    with write(db):
        # A resend of the same uuid on another connection at the same moment waits at the insert for the first
        # to commit, then inserts nothing and reads it as the stored visit (PostgreSQL; SQLite has one writer).
        visit_id = insert(db, "visits", visit, unless="uuid")
        if visit_id is None:
            return _known(db, visit)
        db.execute(f"UPDATE households SET {moves} WHERE id = :household", moved)
        at = visit["received_at"]
        for request in new_requests:
            request_id = insert(db, "requests", {
                **request, "household_id": visit["household_id"], "visit_id": visit_id, "status": "open", "channel": "visit",
                "created_by": visit["user_id"], "created_at": at, "updated_at": at,
            })
            _event(db, request_id, visit["user_id"], at, "created", None, "open",
                   request["description"], visit_id)
        for followup in followups:
            _follow_up(db, followup, visit, visit_id)
        photos.attach_visit(db, visit_id, visit["uuid"], visit["user_id"])  # those sent before the visit
    return "created", visit_id


def _known(db, visit):
    """(outcome, id) of a visit whose uuid was recorded before: "existing" with the same content, else "conflict"."""
    known = one(db, "SELECT id, payload_sha256 FROM visits WHERE uuid = ?", [visit["uuid"]])
    return ("existing" if known["payload_sha256"] == visit["payload_sha256"] else "conflict"), known["id"]


def _household_moves(visit):
    """(SET clause, its parameters) of the household's update by a new visit. One statement: the last visit (and
    the occupancy it found) moves only forward, and so do the latest contact, contact in person and attempt that
    this visit's outcome counts as (a late visit never moves them back). Every SET reads the row as it was."""
    newer = "(last_visit_at IS NULL OR last_visit_at <= :at)"
    latest = ", ".join(f"{column} = CASE WHEN :{column} = 1 AND ({column} IS NULL OR {column} < :at) "
                       f"THEN :at ELSE {column} END" for column in _LATEST)
    moves = (f"last_visit_at = CASE WHEN {newer} THEN :at ELSE last_visit_at END, "
             f"last_visit_user_id = CASE WHEN {newer} THEN :user ELSE last_visit_user_id END, "
             f"occupancy = CASE WHEN {newer} THEN coalesce(:occupancy, occupancy) ELSE occupancy END, {latest}")
    return moves, {"at": visit["visited_at"], "user": visit["user_id"],
                   "occupancy": rules.OCCUPANCY_AFTER[visit["outcome"]], "household": visit["household_id"],
                   **{column: int(column in _COUNTED_AS[visit["outcome"]]) for column in _LATEST}}


# The household's columns that a visit of each outcome moves (data/status.py reads them).
_LATEST = ("last_contact_at", "last_met_at", "last_attempt_at")
_COUNTED_AS = {outcome: (("last_contact_at",) if outcome in rules.CONTACT_OUTCOMES else ())
               + (("last_met_at",) if outcome in rules.IN_PERSON_OUTCOMES else ())
               + (("last_attempt_at",) if outcome in rules.ATTEMPT_OUTCOMES else ()) for outcome in rules.OUTCOMES}


def set_standing(db, visit_id, *, outcome=None, rejected=None):
    """Record what an amendment (its new outcome) or a review (rejected or not) made of a visit, and work out
    its household's contact, attempt and last visit again; call inside the transaction that records the event."""
    visit = one(db, f"SELECT v.household_id, {OUTCOME_NOW} AS outcome, coalesce(vs.rejected, 0) AS rejected "
                    f"FROM visits v {STANDING_JOIN} WHERE v.id = ?", [visit_id])
    db.execute("INSERT INTO visit_standing (visit_id, outcome, rejected) VALUES (:id, :outcome, :rejected) "
               "ON CONFLICT (visit_id) DO UPDATE SET outcome = excluded.outcome, rejected = excluded.rejected",
               {"id": visit_id, "outcome": outcome or visit["outcome"],
                "rejected": visit["rejected"] if rejected is None else int(rejected)})
    restand(db, visit["household_id"])


def _restanding(household):
    """UPDATE households SET ... of the latest contact, contact in person and attempt of the household whose id is
    the SQL household, from its visits as they stand (without its WHERE)."""
    def latest(outcomes):
        return (f"(SELECT max(v.visited_at) FROM visits v {STANDING_JOIN} WHERE v.household_id = {household} "
                f"AND {COUNTS} AND {OUTCOME_NOW} IN {listed(outcomes)})")
    return (f"UPDATE households SET last_contact_at = {latest(rules.CONTACT_OUTCOMES)}, "
            f"last_met_at = {latest(rules.IN_PERSON_OUTCOMES)}, last_attempt_at = {latest(rules.ATTEMPT_OUTCOMES)}")


def restand(db, household_id):
    """Work a household's latest contact, contact in person and attempt out again from its visits as they stand
    (a rejected visit no longer counts; an amended outcome counts as amended). last_visit_at stays: the
    household was visited, whatever the visit turned out to be."""
    db.execute(_restanding(":household") + " WHERE id = :household", {"household": household_id})


def restand_all(db):
    """Work every household's latest contact, contact in person and attempt out from its visits (after a bulk
    load of visits, such as the demo's)."""
    with write(db):
        db.execute(_restanding("households.id"))


def _follow_up(db, followup, visit, visit_id):
    """Apply one follow-up of a request of the visited household, inside the visit's transaction.

    The ledger writes it (the same events as on the request's page); a return visit here was made at the door.
    """
    ledger.apply(db, followup["request_id"], followup["action"], user_id=visit["user_id"], at=visit["received_at"],
                 note=followup["note"], data={"channel": "door"} if followup["action"] in ("confirm", "reopen") else None,
                 visit_id=visit_id, household_id=visit["household_id"])


def _event(db, request_id, user_id, at, kind, from_status, to_status, note, visit_id=None, data=None):
    """Append one event to a request's history."""
    insert(db, "request_events", {
        "request_id": request_id, "user_id": user_id, "at": at, "kind": kind, "from_status": from_status,
        "to_status": to_status, "note": note, "visit_id": visit_id,
        "data": json.dumps(data or {}, ensure_ascii=False),
    })


def get(db, visit_id):
    """One visit, or None."""
    return one(db, "SELECT * FROM visits WHERE id = ?", [visit_id])


def by_uuid(db, uuid):
    """The visit recorded under uuid, or None."""
    return one(db, "SELECT * FROM visits WHERE uuid = ?", [uuid])


def timeline(db, household_id, limit=50):
    """A household's visits, newest first, with author, amendments, the requests raised in each, and whether the
    leader's review rejected it (it no longer counts)."""
    visits = rows(
        db,
        "SELECT v.*, u.display_name AS author, coalesce(vs.rejected, 0) AS rejected FROM visits v "
        f"JOIN users u ON u.id = v.user_id {STANDING_JOIN} "
        "WHERE v.household_id = ? ORDER BY v.visited_at DESC, v.id DESC LIMIT ?",
        [household_id, limit],
    )
    ids = [v["id"] for v in visits]
    marks = ", ".join("?" * len(ids)) or "NULL"
    amendments = rows(db, f"SELECT a.*, u.display_name AS author FROM visit_amendments a JOIN users u "
                          f"ON u.id = a.user_id WHERE a.visit_id IN ({marks}) ORDER BY a.at", ids)
    raised = rows(db, f"SELECT id, visit_id, category, description, status FROM requests "
                      f"WHERE visit_id IN ({marks}) ORDER BY id", ids)
    followed = rows(db, f"SELECT e.visit_id, e.kind, e.note, e.to_status, q.category, q.id AS request_id "
                        f"FROM request_events e JOIN requests q ON q.id = e.request_id "
                        f"WHERE e.visit_id IN ({marks}) AND e.kind != 'created' ORDER BY e.id", ids)
    for visit in visits:
        visit["amendments"] = [a for a in amendments if a["visit_id"] == visit["id"]]
        visit["requests_raised"] = [r for r in raised if r["visit_id"] == visit["id"]]
        visit["followups"] = [f for f in followed if f["visit_id"] == visit["id"]]
    return visits


def amend(db, visit_id, user_id, at, reason, outcome=None, notes=None):
    """Record an amendment of a visit; the original stays as it was."""
    with write(db):
        amendment_id = insert(db, "visit_amendments", {"visit_id": visit_id, "user_id": user_id, "at": at,
                                                       "reason": reason, "outcome": outcome, "notes": notes})
        if outcome:
            set_standing(db, visit_id, outcome=outcome)
        return amendment_id


def record_conflict(db, *, uuid, visit_id, user_id, received_at, body):
    """Keep a resend whose content differs from the stored visit (the stored one stays as it was)."""
    with write(db):
        return insert(db, "sync_conflicts", {"uuid": uuid, "visit_id": visit_id, "user_id": user_id,
                                            "received_at": received_at,
                                            "body": json.dumps(body, ensure_ascii=False)})



def conflicts_for_household(db, household_id):
    """Resends of this household's visits that differed from what was stored, newest first."""
    return rows(
        db,
        "SELECT c.id, c.uuid, c.visit_id, c.received_at, c.body, u.display_name AS sender "
        "FROM sync_conflicts c JOIN visits v ON v.id = c.visit_id JOIN users u ON u.id = c.user_id "
        "WHERE v.household_id = ? ORDER BY c.id DESC",
        [household_id],
    )
