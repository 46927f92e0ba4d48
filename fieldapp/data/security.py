"""Sign-in attempts (the throttle's memory, shared by every worker) and scope checks the forms cannot make."""
from fieldapp.data.db import rows, write

KEEP_ATTEMPTS = "-1 day"  # older attempts no longer count for anything


def recent_failures(db, *, username, ip, since):
    """Failed attempts since `since` (ISO): for the account after its last success, and from the address.

    Returns {"account": [at, ...], "address": [at, ...]}, oldest first.
    """
    account = rows(
        db,
        "SELECT at FROM login_attempts WHERE username = :username AND success = 0 AND at >= :since "
        "AND at > coalesce((SELECT max(at) FROM login_attempts WHERE username = :username AND success = 1), '') "
        "ORDER BY at",
        {"username": username.lower(), "since": since},
    )
    address = rows(db, "SELECT at FROM login_attempts WHERE ip = ? AND success = 0 AND at >= ? ORDER BY at",
                   [ip or "", since])
    return {"account": [r["at"] for r in account], "address": [r["at"] for r in address]}


def record_attempt(db, *, username, ip, success, at):
    """Remember one sign-in attempt; forget those older than a day in the same transaction."""
    with write(db):
        db["login_attempts"].insert({"at": at, "username": username.lower()[:64], "ip": ip or "",
                                     "success": int(success)})
        db.execute("DELETE FROM login_attempts WHERE at < strftime('%Y-%m-%dT%H:%M:%SZ', ?, ?)",
                   [at, KEEP_ATTEMPTS])


def foreign_request_ids(db, household_id, request_ids):
    """Those of request_ids that are not requests of household_id (unknown ids included)."""
    wanted = sorted({int(i) for i in request_ids})
    storable = [i for i in wanted if i < 2**63]  # bigger ids cannot exist (and SQLite cannot take them)
    marks = ", ".join("?" * len(storable)) or "NULL"
    own = {r["id"] for r in rows(db, f"SELECT id FROM requests WHERE household_id = ? AND id IN ({marks})",
                                 [household_id, *storable])}
    return [i for i in wanted if i not in own]
