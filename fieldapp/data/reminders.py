"""The grids' group robots and what was sent to them: each grid's webhook (a secret), the hour of its digest, and one
log row per message (claimed before sending, so that a digest or an alert goes out once per grid and day)."""
from fieldapp import rules
from fieldapp.data import audit, cells, coverage, ledger
from fieldapp.data.db import in_clause, one, rows, write

KINDS = ("wecom", "dingtalk", "feishu")
DAILY = ("digest", "overdue")  # once per grid and day; a test message as often as the admin asks


def grids(db):
    """Every grid: id, code, name, in code order."""
    return rows(db, "SELECT id, code, name FROM grids ORDER BY code, id")


def robots(db):
    """Every grid with its robot (kind, target, digest_hour, enabled; None when it has none) and its latest
    message (at, message, status, attempts, error)."""
    return rows(db, "SELECT g.id AS grid_id, g.code, g.name, r.kind, r.target, r.digest_hour, r.enabled, "
                    "l.at AS last_at, l.message AS last_message, l.status AS last_status, l.attempts AS last_attempts, "
                    "l.error AS last_error FROM grids g LEFT JOIN reminder_robots r ON r.grid_id = g.id "
                    "LEFT JOIN reminder_log l ON l.id = (SELECT max(x.id) FROM reminder_log x WHERE x.grid_id = g.id) "
                    "ORDER BY g.code, g.id")


def robot(db, grid_id):
    """The robot of grid_id with the grid's name, or None when it has none."""
    return one(db, "SELECT r.*, g.name AS grid_name FROM reminder_robots r JOIN grids g ON g.id = r.grid_id "
                   "WHERE r.grid_id = ?", [grid_id])


def save_robot(db, grid_id, *, kind, target, digest_hour, enabled, user_id, ip=None):
    """Store grid_id's robot (target None: keep the stored one), with an audit entry that never holds the target."""
    at = rules.iso(rules.utcnow())
    with write(db):
        if target is None:
            db.execute("UPDATE reminder_robots SET kind = ?, digest_hour = ?, enabled = ?, updated_at = ?, "
                       "updated_by = ? WHERE grid_id = ?", [kind, digest_hour, int(enabled), at, user_id, grid_id])
        else:
            db.execute("INSERT INTO reminder_robots (grid_id, kind, target, digest_hour, enabled, updated_at, "
                       "updated_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (grid_id) DO UPDATE SET "
                       "kind = excluded.kind, target = excluded.target, digest_hour = excluded.digest_hour, "
                       "enabled = excluded.enabled, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                       [grid_id, kind, target, digest_hour, int(enabled), at, user_id])
        audit.log(db, user_id=user_id, action="reminder_robot", target_type="grid", target_id=grid_id,
                  detail={"kind": kind, "digest_hour": digest_hour, "enabled": bool(enabled),
                          "webhook_changed": target is not None}, ip=ip)


def enabled_robots(db):
    """The robots that are on, with their grid's name."""
    return rows(db, "SELECT r.*, g.name AS grid_name FROM reminder_robots r JOIN grids g ON g.id = r.grid_id "
                    "WHERE r.enabled = 1 ORDER BY g.code, g.id")


def claim(db, grid_id, message, day, at):
    """Claim the sending of grid_id's message for day: the log row's id, or None when it was sent (or is being
    sent) already. A message that failed before is claimed again (its attempts go on counting)."""
    row = {"at": at, "grid_id": grid_id, "message": message, "day": day}
    with write(db):
        claimed = db.execute("INSERT INTO reminder_log (at, grid_id, message, day, status, attempts) "
                             "VALUES (:at, :grid_id, :message, :day, 'sending', 0) ON CONFLICT DO NOTHING "
                             "RETURNING id", row).fetchone()
        if claimed or message not in DAILY:
            return claimed[0]
        # Sent or being sent: nothing to do. Failed before: tried again, this run alone (the update is its lock).
        retried = db.execute("UPDATE reminder_log SET status = 'sending', at = :at WHERE grid_id = :grid_id "
                             "AND message = :message AND day = :day AND status = 'failed' RETURNING id", row).fetchone()
        return retried[0] if retried else None


def attempted(db, log_id, *, ok, error, at):
    """Record one attempt of log row log_id: sent, or still sending with the error (secret-free)."""
    with write(db):
        db.execute("UPDATE reminder_log SET attempts = attempts + 1, at = ?, error = ?, status = ? WHERE id = ?",
                   [at, None if ok else error, "sent" if ok else "sending", log_id])


def given_up(db, log_id):
    """Mark log row log_id failed after its last attempt (the next run tries it again)."""
    with write(db):
        db.execute("UPDATE reminder_log SET status = 'failed' WHERE id = ?", [log_id])


def log_entries(db, grid_ids=None, limit=50):
    """The latest log rows (of grid_ids), newest first."""
    params = {"limit": limit}
    return rows(db, "SELECT l.*, g.name AS grid_name FROM reminder_log l JOIN grids g ON g.id = l.grid_id "
                    f"WHERE {in_clause('l.grid_id', grid_ids, params, 'grid')} ORDER BY l.id DESC LIMIT :limit", params)


def digest_figures(db, clock, grid_id, addresses=10):
    """What a grid's digest says: households due and contacted this cycle, open, overdue and due-soon requests,
    return visits due, and the addresses (at most `addresses`) of the overdue requests. Counts and addresses only."""
    cell_ids = cells.grid_cell_ids(db, grid_id)
    by_cell = coverage.current_by_cell(db, clock, cell_ids)
    households = sum(c["households"] for c in by_cell)
    contacted = sum(c["visited"] for c in by_cell)
    counts = ledger.status_counts(db, cell_ids, clock["today"])
    late = ledger.overdue(db, cell_ids, clock["today"])
    places = []
    for request in late:
        if request["address"] not in places:
            places.append(request["address"])
    return {"households": households, "contacted": contacted, "due": households - contacted,
            "open": counts.get("open", 0) + counts.get("in_progress", 0), "overdue": len(late),
            "return_visits": sum(ledger.households_awaiting_return_visit(db, cell_ids).values()),
            "overdue_addresses": places[:addresses], "more_addresses": max(0, len(places) - addresses)}
