"""Sign-in attempts (the throttle's memory, shared by every worker) and scope checks the forms cannot make."""
from datetime import timedelta

from fieldapp import rules
from fieldapp.data.db import insert, rows, scalar, write

KEEP_ATTEMPTS = timedelta(days=1)  # older attempts no longer count for anything


def recent_failures(db, *, username, ip, device, since):
    """Failed sign-in attempts since `since` (ISO), each list oldest first and after the account's last success:

    "device": from this device for this account; "account_address": from this address for this account by
    devices that never signed in to it; "account": for this account by such devices from anywhere; "address":
    from this address for any account by devices not known to that account.
    """
    params = {"username": username.lower(), "ip": ip or "", "device": device or "", "since": since}
    after_success = ("id > coalesce((SELECT max(id) FROM login_attempts s WHERE s.username = :username "
                     "AND s.success = 1), 0) ")  # ids, not times: a failure in the same second still counts
    unknown = ("(a.device IS NULL OR NOT EXISTS (SELECT 1 FROM known_devices k WHERE k.username = a.username "
               "AND k.device = a.device)) ")
    base = "SELECT at FROM login_attempts a WHERE success = 0 AND at >= :since "
    account = base + "AND username = :username AND " + after_success
    found = {
        "device": rows(db, account + "AND device = :device ORDER BY at", params),
        "account_address": rows(db, account + "AND ip = :ip AND " + unknown + "ORDER BY at", params),
        "account": rows(db, account + "AND " + unknown + "ORDER BY at", params),
        "address": rows(db, base + "AND ip = :ip AND " + unknown + "ORDER BY at", params),
    }
    return {key: [r["at"] for r in found[key]] for key in found}


def is_known_device(db, username, device):
    """Whether device (a hash) has signed in to the account username before."""
    return bool(device) and scalar(db, "SELECT 1 FROM known_devices WHERE username = ? AND device = ?",
                                   [username.lower(), device]) is not None


def record_attempt(db, *, username, ip, device, success, at):
    """Remember one sign-in attempt (a success also makes the device known to the account); forget attempts
    older than a day in the same transaction."""
    with write(db):
        insert(db, "login_attempts", {"at": at, "username": username.lower()[:64], "ip": ip or "",
                                     "device": device, "success": int(success)})
        if success and device:
            db.execute("INSERT INTO known_devices (username, device, last_success_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (username, device) DO UPDATE SET last_success_at = excluded.last_success_at",
                       [username.lower()[:64], device, at])
        db.execute("DELETE FROM login_attempts WHERE at < ?", [rules.iso(rules.parse_iso(at) - KEEP_ATTEMPTS)])


def lift_throttle(db, username, at):
    """Let an account sign in again at once (an admin's reset): its failures so far no longer count."""
    with write(db):
        insert(db, "login_attempts", {"at": at, "username": username.lower()[:64], "ip": "", "device": None,
                                     "success": 1})


def forget_devices(db, username):
    """Forget every device known to an account (its password was reset: a lost phone is a stranger again)."""
    with write(db):
        db.execute("DELETE FROM known_devices WHERE username = ?", [username.lower()])


def foreign_request_ids(db, household_id, request_ids):
    """Those of request_ids that are not requests of household_id (unknown ids included)."""
    wanted = sorted({int(i) for i in request_ids})
    if not wanted:  # a visit without follow-ups: nothing to look up
        return []
    storable = [i for i in wanted if i < 2**63]  # bigger ids cannot exist (and SQLite cannot take them)
    marks = ", ".join("?" * len(storable)) or "NULL"
    own = {r["id"] for r in rows(db, f"SELECT id FROM requests WHERE household_id = ? AND id IN ({marks})",
                                 [household_id, *storable])}
    return [i for i in wanted if i not in own]
