"""The leader's review (审核): doubtful visits and register changes of a scope, each with its reasons and its state
as its review events (append-only) make it; the events themselves; the questions that go back to members.

A visit is doubtful when its position is off-site, imprecise or missing (visits.location_flag; not for a phone
call, made from anywhere), when it was received more than LATE_HOURS after its device time, or when it lies in a
burst: the member's visits from BURST_MINUTES before it to BURST_MINUTES after it cover at least BURST_VISITS
households. A register change is
reviewed when a member added or ended a sensitive tag (a vulnerable group) or a resident with one left, and
whenever it is a conflict nobody has resolved. The list covers WINDOW_DAYS: items received in them, older ones with
a question asked or answered in them (still waiting), and unresolved conflicts of any age.

An item's state is its latest event's: none (new), ask (asked: waiting for the member), answer (answered: back to
the leader), accept / reject / apply / keep (decided: it leaves the list and stays in history). A decision is
final; a question waits for its answer before another is asked.
"""
from datetime import timedelta

from fieldapp import rules
from fieldapp.data import audit, register
from fieldapp.data import visits as visit_data
from fieldapp.data.db import in_clause, insert, one, rows, write
from fieldapp.data.status import listed

WINDOW_DAYS = 30
LATE_HOURS = 24
BURST_VISITS = 5
BURST_MINUTES = 10

VISIT_REASONS = ("off_site", "imprecise", "no_location", "late", "burst")
CHANGE_REASONS = ("sensitive", "conflict")
REASONS = VISIT_REASONS + CHANGE_REASONS
STATES = ("new", "asked", "answered", "decided")
DECISIONS = ("accept", "reject", "apply", "keep")
# What each kind of item may be decided with (a conflict is applied or kept, never merely accepted).
DECIDED_WITH = {"visit": ("accept", "reject"), "change": ("accept",), "conflict": ("apply", "keep")}

# Whether column is one of the values a subquery returns, read as probes of an index on column: PostgreSQL would
# rather hash the whole window's visits than probe a grid's thousands of households one by one (5 times slower).
_ANY_OF = {"sqlite": "{column} IN ({rows})", "postgresql": "{column} = ANY(ARRAY({rows}))"}
# Whether a stored UTC timestamp lies more than whole seconds after another (PostgreSQL: two casts; extracting each
# one's epoch cost half a second of the district's list), and a stored timestamp shifted by whole seconds (as text).
_APART = {"sqlite": "unixepoch({later}) - unixepoch({earlier}) > {seconds}",
          "postgresql": "CAST({later} AS timestamp) - CAST({earlier} AS timestamp) > INTERVAL '{seconds} seconds'"}
_SHIFTED = {"sqlite": "strftime('%Y-%m-%dT%H:%M:%SZ', {stamp}, '{seconds:+d} seconds')",
            "postgresql": "to_char(CAST({stamp} AS timestamp) + INTERVAL '{seconds} seconds', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"}


# A visit's position is doubtful only where the member should have stood at the door: a phone call (or one nobody
# answered) is made from anywhere.
_PLACE_FLAG = f"CASE WHEN v.outcome IN {listed(rules.REMOTE_OUTCOMES)} THEN 'ok' ELSE v.location_flag END"


class Refused(Exception):
    """An action the item's state does not allow; args[0] says why (see refusal)."""


def window_start(now=None):
    """The stored UTC timestamp at which the review's window begins."""
    return rules.iso((now or rules.utcnow()) - timedelta(days=WINDOW_DAYS))


_STATE_AFTER = {None: "new", "ask": "asked", "answer": "answered"}  # after any other action: decided


def state_of(last_action):
    """An item's state from the action of its latest review event (None: no event yet)."""
    return _STATE_AFTER.get(last_action, "decided")


def _shifted(db, stamp, seconds):
    """The stored timestamp stamp shifted by whole seconds, as stored (SQL)."""
    return _SHIFTED[db.dialect.name].format(stamp=stamp, seconds=seconds)


def _apart(db, later, earlier, seconds):
    """Whether the stored timestamp later lies more than seconds after earlier (SQL; NULL when either is)."""
    return "(" + _APART[db.dialect.name].format(later=later, earlier=earlier, seconds=seconds) + ")"


def _is_late(db, alias="v"):
    """Whether visit alias arrived more than LATE_HOURS after its device time (an SQL condition)."""
    # A day later by the calendar first: comparing text is cheap, and most visits arrive on their own day.
    return (f"(substr({alias}.received_at, 1, 10) > substr({alias}.visited_at, 1, 10) "
            f"AND {_apart(db, f'{alias}.received_at', f'{alias}.visited_at', LATE_HOURS * 3600)})")


def _late(db, alias="v"):
    """_is_late as 1 or 0."""
    return f"CASE WHEN {_is_late(db, alias)} THEN 1 ELSE 0 END"


def _households_around(db, alias="v"):
    """How many households the member of visit alias visited from BURST_MINUTES before it to BURST_MINUTES after
    (SQL; index visits_user)."""
    span = BURST_MINUTES * 60
    return (f"(SELECT count(DISTINCT w.household_id) FROM visits w WHERE w.user_id = {alias}.user_id "
            f"AND w.visited_at >= {_shifted(db, f'{alias}.visited_at', -span)} "
            f"AND w.visited_at <= {_shifted(db, f'{alias}.visited_at', span)})")


def _last_action(subject, alias):
    """The action of the latest review event of subject alias.id (SQL; index review_events_subject)."""
    return (f"(SELECT x.action FROM review_events x WHERE x.subject = '{subject}' AND x.subject_id = {alias}.id "
            f"ORDER BY x.id DESC LIMIT 1)")


def _questioned_ids(subject):
    """The ids of the subject's items with a question asked or answered since :since (SQL; index
    review_events_action: a month's questions, not every decision of the month)."""
    return (f"SELECT e.subject_id FROM review_events e WHERE e.action IN ('ask', 'answer') AND e.at >= :since "
            f"AND e.subject = '{subject}'")


def _questioned(subject, alias):
    """Whether alias.id is one of _questioned_ids(subject) (SQL)."""
    return f"{alias}.id IN ({_questioned_ids(subject)})"


def _reasons(row, names):
    """The reasons among names that hold for row (its location flag and 0/1 columns named after them)."""
    return [name for name in names if row.get(name) or row.get("location_flag") == name]



def flagged_visits(db, cell_ids, since):
    """The doubtful visits of the households of cell_ids (None: all) received since (UTC text), and older ones with
    a question asked or answered since: id, received_at, reasons, state."""
    params = {"since": since, "burst": BURST_VISITS,
              "near_since": rules.iso(rules.parse_iso(since) - timedelta(minutes=BURST_MINUTES))}
    columns = f"v.id, v.user_id, v.visited_at, v.received_at, {_PLACE_FLAG} AS location_flag"
    questioned = _questioned("visit", "v")
    # The members whose visits are looked at: everyone's for the district, else those who visited the scope.
    members = "SELECT DISTINCT r.user_id FROM recent r"
    if cell_ids is None:
        members = "SELECT u.id FROM users u"
        received = f"SELECT {columns} FROM visits v WHERE v.received_at >= :since"
        earlier = f"SELECT {columns} FROM visits v WHERE v.received_at < :since AND {questioned}"
    else:
        # From the scope's households into their visits: a grid reads its own visits, not the district's.
        homes = f"SELECT h.id FROM households h WHERE {in_clause('h.cell_id', cell_ids, params, 'cell')}"
        home_of_visit = _ANY_OF[db.dialect.name].format(column="v.household_id", rows=homes)
        received = f"SELECT {columns} FROM visits v WHERE {home_of_visit} AND v.received_at >= :since"
        earlier = (f"SELECT {columns} FROM visits v JOIN households h ON h.id = v.household_id "
                   f"WHERE v.received_at < :since AND {questioned} "
                   f"AND {in_clause('h.cell_id', cell_ids, params, 'asked')}")
    span = BURST_MINUTES * 60
    # A visit asked about was doubtful then, and stays so (what makes it doubtful is never undone): the flags alone
    # decide. A sieve before households are counted visit by visit: 5 visits within BURST_MINUTES of a visit are 5
    # in a row of the member's, all within twice that span, and it lies among them. Those runs' first visits
    # (starts) come from one pass over the member's visits in index order; only the visits they reach (dense) are
    # counted. A visit made before the window (received late, or asked about since) is counted on its own.
    sql = f"""
        WITH recent AS ({received} UNION ALL {earlier}),
        starts AS MATERIALIZED (
            SELECT x.user_id, x.visited_at FROM (
                SELECT w.user_id, w.visited_at,
                       lead(w.visited_at, {BURST_VISITS - 1})
                           OVER (PARTITION BY w.user_id ORDER BY w.visited_at) AS run_end
                FROM visits w WHERE w.user_id IN ({members})
                AND w.visited_at >= :near_since) x
            WHERE x.run_end IS NOT NULL AND NOT {_apart(db, 'x.run_end', 'x.visited_at', 2 * span)}),
        dense AS MATERIALIZED (
            SELECT DISTINCT w.id FROM starts s {db.dialect.ordered_join} visits w ON w.user_id = s.user_id
            AND w.visited_at >= s.visited_at AND w.visited_at <= {_shifted(db, 's.visited_at', 2 * span)}),
        judged AS MATERIALIZED (
            SELECT v.id, v.received_at, v.location_flag, {_late(db)} AS late,
                   CASE WHEN (v.visited_at < :since OR d.id IS NOT NULL)
                             AND {_households_around(db)} >= :burst THEN 1 ELSE 0 END AS burst
            FROM recent v LEFT JOIN dense d ON d.id = v.id
            WHERE v.location_flag != 'ok' OR {_is_late(db)} OR v.visited_at < :since OR d.id IS NOT NULL)
        SELECT j.id, j.received_at, j.location_flag, j.late, j.burst, {_last_action('visit', 'j')} AS last_action
        FROM judged j WHERE j.location_flag != 'ok' OR j.late = 1 OR j.burst = 1
        """
    # Tuples, not dicts: a district's list has tens of thousands of rows.
    return [{"subject": "visit", "id": visit_id, "received_at": received_at,
             "reasons": ([] if flag == "ok" else [flag]) + (["late"] if late else []) + (["burst"] if burst else []),
             "state": state_of(last_action)}
            for visit_id, received_at, flag, late, burst, last_action in _uncompiled(db, sql, params)]


def _uncompiled(db, sql, params):
    """The rows of sql (tuples), on PostgreSQL with its JIT compiler off for the statement: the planner cannot
    foresee how few visits the sieve lets through, and compiling for the many it fears took 2 s of a grid's 0.15."""
    if db.dialect.name != "postgresql":
        return db.execute(sql, params).fetchall()
    with write(db):  # a transaction of its own, which the setting ends with
        db.execute("SET LOCAL jit = off")
        return db.execute(sql, params).fetchall()


def _sensitive(alias="c"):
    """Whether change alias adds or ends a sensitive tag, or records that a resident with one left (SQL)."""
    sensitive = "(SELECT t.code FROM tags t WHERE t.sensitive = 1)"
    # A resident who left held the tags that still hold, or that their leaving ended (from the day they left).
    held = (f"EXISTS (SELECT 1 FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id "
            f"JOIN residents r ON r.id = rt.resident_id WHERE rt.resident_id = {alias}.resident_id "
            f"AND t.sensitive = 1 AND (rt.ended_on IS NULL OR r.moved_out_at IS NULL "
            f"OR rt.ended_on >= substr(r.moved_out_at, 1, 10)))")
    return (f"(({alias}.kind = 'tag_added' AND {alias}.after IN {sensitive}) "
            f"OR ({alias}.kind = 'tag_ended' AND {alias}.before IN {sensitive}) "
            f"OR ({alias}.kind = 'resident_left' AND {held}))")


def _unresolved(alias="c"):
    """Whether conflict alias has no apply / keep event (SQL)."""
    return (f"NOT EXISTS (SELECT 1 FROM review_events x WHERE x.subject = 'change' AND x.subject_id = {alias}.id "
            f"AND x.action IN ('apply', 'keep'))")


def reviewed_changes(db, cell_ids, since):
    """The register changes to review of the households of cell_ids (None: all): members' sensitive changes and
    conflicts received since, older ones with a question asked or answered since, and unresolved conflicts: id,
    received_at, reasons, state."""
    params = {"since": since}
    # Read by time and state, not the whole register: the window's changes, the conflicts (few), the changes with
    # questions in the window.
    candidates = ("SELECT r.id FROM register_changes r WHERE r.received_at >= :since "
                  "UNION ALL SELECT r.id FROM register_changes r WHERE r.state = 'conflict' "
                  f"UNION ALL {_questioned_ids('change')}")
    # A leader's own change, or one that applies a conflict they resolved, is theirs: nothing to review.
    sql = f"""
        SELECT c.id, c.received_at, CASE WHEN c.state = 'conflict' THEN 1 ELSE 0 END AS conflict,
               CASE WHEN u.role = 'member' AND {_sensitive()} THEN 1 ELSE 0 END AS sensitive,
               {_last_action('change', 'c')} AS last_action
        FROM register_changes c JOIN households h ON h.id = c.household_id JOIN users u ON u.id = c.user_id
        WHERE c.id IN ({candidates}) AND {in_clause('h.cell_id', cell_ids, params, 'cell')} AND c.resolves_id IS NULL
          AND ((c.state = 'conflict' AND (c.received_at >= :since OR {_unresolved()}))
               OR (c.received_at >= :since AND u.role = 'member' AND {_sensitive()})
               OR {_questioned('change', 'c')})
        """
    return [{"subject": "change", "id": row["id"], "received_at": row["received_at"],
             "reasons": _reasons(row, CHANGE_REASONS), "state": state_of(row["last_action"])}
            for row in rows(db, sql, params)]


def items(db, cell_ids, since=None):
    """The review list of cell_ids (None: all) over the window from since (default: WINDOW_DAYS ago), newest
    first: {subject, id, received_at, reasons, state}."""
    since = since or window_start()
    found = flagged_visits(db, cell_ids, since) + reviewed_changes(db, cell_ids, since)
    found.sort(key=lambda entry: (entry["received_at"], entry["subject"], entry["id"]), reverse=True)
    return found


def matching(found, reason=None, state="open"):
    """The items of found with reason (None: any) in state ("open": not decided; None: any)."""
    return [entry for entry in found
            if (reason is None or reason in entry["reasons"])
            and (state is None or entry["state"] == state or (state == "open" and entry["state"] != "decided"))]


def counts(found):
    """How many of found are in each state (and open), and how many open ones have each reason."""
    totals = {state: 0 for state in (*STATES, "open")}
    totals.update({reason: 0 for reason in REASONS})
    for entry in found:
        totals[entry["state"]] += 1
        if entry["state"] != "decided":
            totals["open"] += 1
            for reason in entry["reasons"]:
                totals[reason] += 1
    return totals


_VISIT_COLUMNS = ("v.id, v.household_id, h.address, h.cell_id, v.user_id, u.display_name AS member, v.visited_at, "
                  "v.received_at, v.lat, v.lon, v.accuracy_m, v.distance_m, v.location_flag, v.no_location_reason, "
                  f"v.notes, {visit_data.OUTCOME_NOW} AS outcome, coalesce(vs.rejected, 0) AS rejected "
                  f"FROM visits v JOIN households h ON h.id = v.household_id JOIN users u ON u.id = v.user_id "
                  f"{visit_data.STANDING_JOIN}")
_CHANGE_COLUMNS = ("c.*, h.address, h.cell_id, u.display_name AS member, r.name AS resident_name "
                   "FROM register_changes c JOIN households h ON h.id = c.household_id "
                   "JOIN users u ON u.id = c.user_id LEFT JOIN residents r ON r.id = c.resident_id")


def details(db, shown):
    """The items of shown (from items) with what a leader needs to judge them and their review events, in order."""
    found = {}
    for subject, columns, alias in (("visit", _VISIT_COLUMNS, "v"), ("change", _CHANGE_COLUMNS, "c")):
        ids = [entry["id"] for entry in shown if entry["subject"] == subject]
        if not ids:
            continue
        params = {}
        for row in rows(db, f"SELECT {columns} WHERE {in_clause(f'{alias}.id', ids, params, 'id')}", params):
            found[(subject, row["id"])] = row
        params = {"subject": subject}
        for event in rows(db, "SELECT e.*, u.display_name AS who FROM review_events e JOIN users u ON u.id = e.user_id "
                              f"WHERE e.subject = :subject AND {in_clause('e.subject_id', ids, params, 'id')} "
                              "ORDER BY e.id", params):
            found[(subject, event["subject_id"])].setdefault("events", []).append(event)
    result = []
    for entry in shown:
        row = found[(entry["subject"], entry["id"])]
        result.append({**row, **entry, "events": row.get("events", []), "kind_of": _kind_of(entry)})
    return result


def _kind_of(found):
    """Which decisions an item takes: a visit's, a change's, a conflict's (DECIDED_WITH)."""
    if found["subject"] == "visit":
        return "visit"
    return "conflict" if "conflict" in found["reasons"] else "change"


def item(db, subject, subject_id):
    """One visit or register change as a review item (reasons, state, what the list shows of it), or None if there
    is no such record."""
    if subject == "visit":
        judged = one(db, f"SELECT v.id, v.received_at, {_PLACE_FLAG} AS location_flag, {_late(db)} AS late, "
                         f"CASE WHEN {_households_around(db)} >= {BURST_VISITS} THEN 1 ELSE 0 END AS burst, "
                         f"{_last_action('visit', 'v')} AS last_action FROM visits v WHERE v.id = ?", [subject_id])
        names = VISIT_REASONS
    else:
        judged = one(db, f"SELECT c.id, c.received_at, c.resolves_id, "
                         f"CASE WHEN c.state = 'conflict' THEN 1 ELSE 0 END AS conflict, "
                         f"CASE WHEN u.role = 'member' AND {_sensitive()} THEN 1 ELSE 0 END AS sensitive, "
                         f"{_last_action('change', 'c')} AS last_action FROM register_changes c "
                         f"JOIN users u ON u.id = c.user_id WHERE c.id = ?", [subject_id])
        names = () if judged and judged["resolves_id"] else CHANGE_REASONS
    if judged is None:
        return None
    return details(db, [{"subject": subject, "id": subject_id, "received_at": judged["received_at"],
                         "reasons": _reasons(judged, names), "state": state_of(judged["last_action"])}])[0]


def reviewable(found):
    """Whether an item (from item) is one the review handles: doubtful for a reason, or already reviewed."""
    return bool(found["reasons"] or found["events"])


def refusal(found, action):
    """Why an item cannot take action now (decided, asked, not_asked, not_allowed), or None when it can."""
    if found["state"] == "decided":
        return "decided"
    if action in DECISIONS:
        return None if action in DECIDED_WITH[found["kind_of"]] else "not_allowed"
    if action == "ask":
        return "asked" if found["state"] == "asked" else None
    if action == "answer":
        return None if found["state"] == "asked" else "not_asked"
    return "not_allowed"


def _resent(db, subject, subject_id, user_id, action, note):
    """The latest event of an item if it is this very action by this user with this note: a form sent again."""
    latest = one(db, "SELECT id, user_id, action, note FROM review_events WHERE subject = ? AND subject_id = ? "
                     "ORDER BY id DESC LIMIT 1", [subject, subject_id])
    if latest and (latest["user_id"], latest["action"], latest["note"]) == (user_id, action, note):
        return latest["id"]
    return None


def act(db, subject, subject_id, action, *, user_id, at, day, note=None, ip=None):
    """Record one action on an item, with its audit log entry, in one transaction: accept, ask, answer, reject (a
    rejected visit stops counting: its household's contact is worked out again), apply or keep (a conflict,
    through register.resolve). Returns (event id, True; or False when the same form came again and nothing was
    written). Raises Refused when the item's state does not allow the action."""
    table = "visits" if subject == "visit" else "register_changes"
    with write(db):
        # Lock the item's row: two leaders deciding at once cannot both pass the check below.
        db.execute(f"SELECT id FROM {table} WHERE id = ?{db.dialect.for_update}", [subject_id]).fetchone()
        resent = _resent(db, subject, subject_id, user_id, action, note)
        if resent:
            return resent, False
        problem = refusal(item(db, subject, subject_id), action)
        if problem:
            raise Refused(problem)
        if action in ("apply", "keep"):
            register.resolve(db, subject_id, user_id=user_id, at=at, day=day, apply=action == "apply", note=note)
            event_id = one(db, "SELECT max(id) AS id FROM review_events WHERE subject = 'change' AND subject_id = ?",
                           [subject_id])["id"]
        else:
            event_id = insert(db, "review_events", {"subject": subject, "subject_id": subject_id,
                                                   "user_id": user_id, "at": at, "action": action, "note": note})
        if action == "reject":
            visit_data.set_standing(db, subject_id, rejected=True)
        audit.log(db, user_id=user_id, action=f"review_{action}", target_type=subject, target_id=subject_id,
                  detail={"event": event_id}, ip=ip)
        return event_id, True


def open_question(db, subject, subject_id):
    """The question waiting for an answer on an item (its ask event), or None."""
    latest = one(db, "SELECT * FROM review_events WHERE subject = ? AND subject_id = ? ORDER BY id DESC LIMIT 1",
                 [subject, subject_id])
    return latest if latest and latest["action"] == "ask" else None


def question_waits(db, visit, user_id):
    """Whether a question on visit waits for user_id's answer: its author may then amend it after the window."""
    return visit["user_id"] == user_id and open_question(db, "visit", visit["id"]) is not None


def answer_by_amendment(db, visit_id, user_id, at, reason, outcome=None, notes=None, ip=None):
    """Amend a visit (data/visits.amend) and, when a question on it waits for an answer, record the amendment's
    reason as the answer (with its audit log entry), in one transaction. Returns the amendment's id."""
    with write(db):
        amendment_id = visit_data.amend(db, visit_id, user_id, at, reason, outcome, notes)
        if open_question(db, "visit", visit_id):
            event_id = insert(db, "review_events", {"subject": "visit", "subject_id": visit_id, "user_id": user_id,
                                                   "at": at, "action": "answer", "note": reason})
            audit.log(db, user_id=user_id, action="review_answer", target_type="visit", target_id=visit_id,
                      detail={"event": event_id, "amendment": amendment_id}, ip=ip)
        return amendment_id


def questions(db, *, user_id=None, household_id=None, since=None):
    """The questions waiting for an answer that were asked since (default: the window's start), newest first: those
    to user_id (the author of the visit or change asked about), or those on household_id's items."""
    params = {"since": since or window_start()}
    where = []
    if user_id is not None:
        params["user"] = user_id
        where.append("author_id = :user")
    if household_id is not None:
        params["household"] = household_id
        where.append("household_id = :household")
    # From the items asked about, not from each question of the window (thousands, each with its visit read): a
    # household's few visits and changes into the events by subject; a member's visits as one list that the
    # window's questions are checked against (and each question on a change against its change).
    if household_id is not None:
        found = ("SELECT max(x.id) AS id FROM (SELECT 'visit' AS subject, v.id AS subject_id FROM visits v "
                 "WHERE v.household_id = :household UNION ALL SELECT 'change', c.id FROM register_changes c "
                 f"WHERE c.household_id = :household) AS s {db.dialect.ordered_join} review_events x "
                 "ON x.subject = s.subject AND x.subject_id = s.subject_id GROUP BY s.subject, s.subject_id")
    elif user_id is not None:
        found = ("SELECT e.id FROM review_events e WHERE e.action = 'ask' AND e.at >= :since AND ((e.subject = 'visit' "
                 "AND e.subject_id IN (SELECT v.id FROM visits v WHERE v.user_id = :user)) OR (e.subject = 'change' "
                 "AND EXISTS (SELECT 1 FROM register_changes c WHERE c.id = e.subject_id AND c.user_id = :user)))")
    else:
        found = None
    events = f"found f {db.dialect.ordered_join} review_events e ON e.id = f.id" if found else "review_events e"
    sql = (f"WITH found AS MATERIALIZED ({found})" if found else "") + f"""
        SELECT * FROM (
            SELECT e.id AS event_id, e.subject, e.subject_id, e.note AS question, e.at AS asked_at,
                   asker.display_name AS asked_by,
                   coalesce(v.user_id, c.user_id) AS author_id,
                   coalesce(v.household_id, c.household_id) AS household_id,
                   h.address, v.visited_at, v.location_flag, c.kind, c.field, c.before, c.after, c.server_value,
                   c.resident_id, r.name AS resident_name
            FROM {events} JOIN users asker ON asker.id = e.user_id
            LEFT JOIN visits v ON e.subject = 'visit' AND v.id = e.subject_id
            LEFT JOIN register_changes c ON e.subject = 'change' AND c.id = e.subject_id
            LEFT JOIN residents r ON r.id = c.resident_id
            JOIN households h ON h.id = coalesce(v.household_id, c.household_id)
            WHERE e.action = 'ask' AND e.at >= :since
              AND e.id = (SELECT max(x.id) FROM review_events x WHERE x.subject = e.subject
                          AND x.subject_id = e.subject_id)
        ) asked WHERE {' AND '.join(where) or 'TRUE'} ORDER BY event_id DESC
        """
    return rows(db, sql, params)
