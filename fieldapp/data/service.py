"""Members' service records (党员服务记录): per member and month what they did, counted from the append-only records
(visits as they stand, requests, their events, review answers), and the points (积分) the admin may turn on.

A month is the UTC instants [start, end) of its local days. Each figure is one grouped query over all the members
asked for, never a query per member:
- contacts / attempts: the member's visits in the month that count (not rejected in review), by their outcome now;
- in_cycle: households of the cells the member held at the month's end that got the contacts their cycle asks for
  in the month (coverage's rule for a past period, data/coverage.period_by_cell);
- raised: requests the member entered; followed_up: requests the member acted on (any event but their creation
  and a reassignment); resolved: the member's "resolved" events; return_visits: the member's return-visit events;
- photos: the member's photos (photos_per_member); answers: the member's answers to the review's questions.
"""
import json
from datetime import timedelta

from fieldapp import rules
from fieldapp.data import coverage
from fieldapp.data.db import in_clause, insert, rows, write
from fieldapp.data.standing import COUNTS, OUTCOME_NOW, STANDING_JOIN
from fieldapp.data.status import listed

FIGURES = ("contacts", "attempts", "in_cycle", "raised", "followed_up", "resolved", "return_visits", "photos",
           "answers")
# The points of one of each, until the admin sets others.
DEFAULT_WEIGHTS = {"contacts": 1, "attempts": 0.5, "in_cycle": 0, "raised": 1, "followed_up": 1, "resolved": 2,
                   "return_visits": 1, "photos": 0.5, "answers": 0.5}
# Settings keys (the settings table): points on, ranking on (both off by default), each figure's weight.
POINTS_KEY, RANKING_KEY, WEIGHT_PREFIX = "service_points", "service_ranking", "service_weight_"


def _by_user(db, column, body, user_ids, params):
    """{user id: count(*)} of body (FROM ... WHERE ..., with {users}) grouped by column."""
    params = dict(params)
    users = in_clause(column, user_ids, params, "user")
    return {r["user_id"]: r["n"] for r in rows(
        db, f"SELECT {column} AS user_id, count(*) AS n {body.format(users=users)} GROUP BY {column}", params)}


def _visits(db, user_ids, params, outcomes):
    """{user id: visits of the month that count, with an outcome now among outcomes}."""
    return _by_user(db, "v.user_id", f"FROM visits v {STANDING_JOIN} WHERE {{users}} AND v.visited_at >= :start "
                                     f"AND v.visited_at < :end AND {COUNTS} AND {OUTCOME_NOW} IN {listed(outcomes)}",
                    user_ids, params)


def _events(db, user_ids, params, condition):
    """{user id: their request events of the month meeting condition}."""
    return _by_user(db, "e.user_id", "FROM request_events e WHERE {users} AND e.at >= :start AND e.at < :end "
                                     f"AND {condition}", user_ids, params)


def _followed_up(db, user_ids, params):
    """{user id: requests they acted on in the month, other than entering or reassigning them}."""
    params = dict(params)
    users = in_clause("e.user_id", user_ids, params, "user")
    return {r["user_id"]: r["n"] for r in rows(
        db, "SELECT user_id, count(*) AS n FROM (SELECT DISTINCT e.user_id, e.request_id FROM request_events e "
            f"WHERE {users} AND e.at >= :start AND e.at < :end AND e.kind NOT IN ('created', 'assigned')) AS acted "
            "GROUP BY user_id", params)}


def photos_per_member(db, user_ids, start, end):
    """{user id: the photos they took in [start, end) that are kept with their visit or resolution} (the phone's
    time of taking when it said, else the upload's)."""
    return _by_user(db, "p.user_id", "FROM photos p WHERE {users} AND p.state = 'attached' "
                                     "AND coalesce(p.taken_at, p.uploaded_at) >= :start "
                                     "AND coalesce(p.taken_at, p.uploaded_at) < :end",
                    user_ids, {"start": start, "end": end})


def _held_cells(db, user_ids, at):
    """{user id: the cells they held at the UTC timestamp at}."""
    params = {"at": at}
    held = {}
    for r in rows(db, "SELECT DISTINCT user_id, cell_id FROM assignments "
                      f"WHERE {in_clause('user_id', user_ids, params, 'user')} AND valid_from <= :at "
                      "AND (valid_to IS NULL OR valid_to > :at)", params):
        held.setdefault(r["user_id"], []).append(r["cell_id"])
    return held


def _in_cycle(db, clock, month, user_ids, at):
    """{user id: households of the cells they held at at that got the contacts their cycle asks for in month}."""
    held = _held_cells(db, user_ids, at)
    cell_ids = sorted({c for cells in held.values() for c in cells})
    if not cell_ids:
        return {}
    visited = {c["cell_id"]: c["visited"] for c in coverage.period_by_cell(db, clock, month, cell_ids)}
    return {user: sum(visited.get(c, 0) for c in cells) for user, cells in held.items()}


def records(db, clock, month, user_ids):
    """{user id: {figure: n}} of the users of user_ids in month ({"start": date, "end": date, its local days}),
    every figure of FIGURES there (0 when none)."""
    tz = rules.clock_zone(clock)
    start = rules.local_midnight_utc(month["start"], tz)
    end = rules.local_midnight_utc(month["end"] + timedelta(days=1), tz)
    params = {"start": start, "end": end}
    # The cells held at the month's end, or now for the month under way.
    held_at = min(end, rules.iso(rules.utcnow()))
    found = {
        "contacts": _visits(db, user_ids, params, rules.CONTACT_OUTCOMES),
        "attempts": _visits(db, user_ids, params, rules.ATTEMPT_OUTCOMES),
        "in_cycle": _in_cycle(db, clock, month, user_ids, held_at),
        "raised": _by_user(db, "q.created_by", "FROM requests q WHERE {users} AND q.created_at >= :start "
                                               "AND q.created_at < :end", user_ids, params),
        "followed_up": _followed_up(db, user_ids, params),
        "resolved": _events(db, user_ids, params, "e.kind = 'resolved'"),
        "return_visits": _events(db, user_ids, params, "e.kind = 'return_visit'"),
        "photos": photos_per_member(db, user_ids, start, end),
        "answers": _by_user(db, "r.user_id", "FROM review_events r WHERE {users} AND r.action = 'answer' "
                                             "AND r.at >= :start AND r.at < :end", user_ids, params),
    }
    return {user: {figure: found[figure].get(user, 0) for figure in FIGURES} for user in user_ids}


def grid_members(db, grid_id, month_start, month_end):
    """The members who held a cell of grid_id (None: any grid) at some time in [month_start, month_end) (UTC
    timestamps), in name order: id, display_name, username."""
    params = {"start": month_start, "end": month_end}
    grid = "TRUE" if grid_id is None else "c.grid_id = :grid"
    params["grid"] = grid_id
    return rows(db, "SELECT DISTINCT u.id, u.display_name, u.username FROM users u "
                    "JOIN assignments a ON a.user_id = u.id JOIN cells c ON c.id = a.cell_id "
                    f"WHERE u.role = 'member' AND {grid} AND a.valid_from < :end "
                    "AND (a.valid_to IS NULL OR a.valid_to > :start) ORDER BY u.display_name, u.id", params)


def first_day(db):
    """When the records begin: the first visit's arrival (by index visits_received) or the first request, UTC
    text; None when there are none."""
    found = rows(db, "SELECT min(at) AS at FROM (SELECT min(received_at) AS at FROM visits "
                     "UNION ALL SELECT min(created_at) FROM requests) AS firsts")
    return found[0]["at"] if found else None


def points_settings(db):
    """Whether points and ranking are on, and each figure's weight (floats), from the settings table."""
    params = {}
    keys = in_clause("key", [POINTS_KEY, RANKING_KEY, *(WEIGHT_PREFIX + figure for figure in FIGURES)], params, "key")
    found = {r["key"]: r["value"] for r in rows(db, f"SELECT key, value FROM settings WHERE {keys}", params)}
    weights = {figure: float(found.get(WEIGHT_PREFIX + figure, DEFAULT_WEIGHTS[figure])) for figure in FIGURES}
    return {"points": found.get(POINTS_KEY) == "1", "ranking": found.get(RANKING_KEY) == "1", "weights": weights}


def save_points_settings(db, *, points, ranking, weights, user_id, ip=None):
    """Store points on/off, ranking on/off and the weights in one transaction, what changed in the audit log;
    returns the changes as {key: [before, after]}."""
    with write(db):
        before = points_settings(db)
        wanted = {POINTS_KEY: ("1" if points else "0", "1" if before["points"] else "0"),
                  RANKING_KEY: ("1" if ranking else "0", "1" if before["ranking"] else "0")}
        for figure in FIGURES:
            wanted[WEIGHT_PREFIX + figure] = (_number_text(weights[figure]), _number_text(before["weights"][figure]))
        changes = {key: [old, new] for key, (new, old) in wanted.items() if new != old}
        for key in changes:
            db.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, wanted[key][0]])
        if changes:
            insert(db, "audit_log", {"at": rules.iso(rules.utcnow()), "user_id": user_id, "action": "settings",
                                    "target_type": "service_points", "target_id": None,
                                    "detail": json.dumps(changes, ensure_ascii=False), "ip": ip})
    return changes


def _number_text(value):
    """A weight as stored: 2 rather than 2.0."""
    return str(int(value)) if float(value).is_integer() else str(float(value))


def points(record, weights):
    """A record's points: each figure times its weight, to one decimal (a whole number without one)."""
    total = round(sum(record[figure] * weights[figure] for figure in FIGURES), 1)
    return int(total) if total.is_integer() else total
