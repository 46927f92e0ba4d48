"""The figures behind the leader's charts and the monthly report, as aggregates over spans of days.

A span is (first day, last day), local calendar days; a series of spans becomes a VALUES table (CTE spans: i, first
day, last day, the UTC instants of its first and last midnight), so that one statement counts every span. Visits
count as they stand (data/standing: amended outcome, rejected ones left out); a contact and an attempt are the
rules' (status.contact_outcome, status.attempt_outcome). A request's place is its household's, building's or
cell's (data/places.CELL); its status on a past day is that of its latest event before the day ended (a request
not changed since then stands as it is now).
"""
from datetime import timedelta

from fieldapp import rules
from fieldapp.data import places, status
from fieldapp.data.coverage import _CONTACTS, _DAYS, _TAGGED, _needed, _period, cells_clause
from fieldapp.data.db import rows, scalar
from fieldapp.data.standing import COUNTS, STANDING_JOIN

_OPEN = status.listed(rules.OPEN_REQUEST_STATUSES)


def _span_params(clock, spans, params):
    """Add the days and UTC instants of spans to params (s0_first, s0_last, s0_start, s0_end, s1_first, ...) and
    first_start, last_end: where the first begins and the last ends."""
    zone = rules.clock_zone(clock)
    for i, (first, last) in enumerate(spans):
        params.update({f"s{i}_first": first.isoformat(), f"s{i}_last": last.isoformat(),
                       f"s{i}_start": rules.local_midnight_utc(first, zone),
                       f"s{i}_end": rules.local_midnight_utc(last + timedelta(days=1), zone)})
    params.update(first_start=params["s0_start"], last_end=params[f"s{len(spans) - 1}_end"])


def _spans(clock, spans, params, with_cycles=()):
    """The CTE spans(i, first_day, last_day, start_at, end_at) of spans, its values in params; with_cycles: also
    CTE span_starts(i, days, since_at), the instant from which a contact covers a household whose cycle is days at
    the end of span i (rules.cycle_start of its last day)."""
    zone = rules.clock_zone(clock)
    _span_params(clock, spans, params)
    values, starts = [], []
    for i, (_first, last) in enumerate(spans):
        values.append(f"({i}, :s{i}_first, :s{i}_last, :s{i}_start, :s{i}_end)")
        for days in with_cycles:
            params[f"s{i}_since{days}"] = rules.local_midnight_utc(rules.cycle_start(last, days), zone)
            starts.append(f"({i}, {int(days)}, :s{i}_since{days})")
    sql = f"spans(i, first_day, last_day, start_at, end_at) AS (VALUES {', '.join(values)})"
    if with_cycles:
        sql += f", span_starts(i, days, since_at) AS (VALUES {', '.join(starts)})"
    return sql


def _bucket(column, spans):
    """SQL of the index of the span (of _spans) that the UTC text column falls in (rows are limited to the spans)."""
    cases = " ".join(f"WHEN {column} < :s{i}_end THEN {i}" for i in range(len(spans) - 1))
    return f"(CASE {cases} ELSE {len(spans) - 1} END)" if cases else "0"


def coverage_per_span(db, clock, spans, cell_ids):
    """Per span (index i): the occupied households of cell_ids in the register then, how many were contacted in it
    (a contact by the rule of their cycle now) and how many only attempted (tried, not reached in it)."""
    params = {"default_cycle": clock["default_cycle"]}
    status.contact_params(clock, params)
    scope = None if cell_ids is None else cells_clause(cell_ids, params, name="scope")
    head = status.with_clause(db.dialect, scope)
    _span_params(clock, spans, params)
    where = f"h.occupancy = 'occupied' AND {cells_clause(cell_ids, params)}"
    counted = ", ".join(f"count(*) FILTER (WHERE h.created_at < :s{i}_end AND coalesce(h.retired_at, :s{i}_end) "
                        f"> :s{i}_start) AS n{i}" for i in range(len(spans)))
    sizes = rows(db, f"SELECT {counted} FROM households h WHERE {where}", params)[0]
    # Attempted: households tried in the span, less those also contacted in it. One grouping by span, each
    # household counted once per span (a grouping by span and household first takes twice as long).
    contact, tried = status.contact_outcome(_DAYS), status.attempt_outcome()
    found = rows(db, f"{head} SELECT {_bucket('v.visited_at', spans)} AS i, "
                     f"count(DISTINCT v.household_id) FILTER (WHERE {contact}) AS contacted, "
                     f"count(DISTINCT v.household_id) FILTER (WHERE {contact} OR {tried}) AS reached_or_tried "
                     f"FROM households h {_TAGGED}{db.dialect.ordered_join} visits v ON v.household_id = h.id "
                     f"{STANDING_JOIN} WHERE {where} AND v.visited_at >= :first_start AND v.visited_at < :last_end "
                     f"AND {COUNTS} GROUP BY 1", params)
    for r in found:
        r["attempted"] = r["reached_or_tried"] - r["contacted"]
    by_span = {r["i"]: r for r in found}
    return [{"i": i, "households": sizes[f"n{i}"] or 0, "contacted": by_span.get(i, {}).get("contacted", 0),
             "attempted": by_span.get(i, {}).get("attempted", 0)} for i in range(len(spans))]


def vulnerable_per_span(db, clock, spans, cell_ids):
    """Per span: the occupied households of cell_ids with a vulnerable-group (sensitive) tag that held in it, and
    how many of them had a contact within their own cycle (the shortest of the tags that held) at its end."""
    params = {"default_cycle": clock["default_cycle"]}
    status.contact_params(clock, params)
    cycles = status.cycle_values(db, clock["default_cycle"])
    head = "WITH " + _spans(clock, spans, params, with_cycles=cycles)
    held = ("(rt.started_on IS NULL OR rt.started_on <= s.last_day) "
            "AND (rt.ended_on IS NULL OR rt.ended_on > s.first_day) "
            "AND (r.moved_out_at IS NULL OR substr(r.moved_out_at, 1, 10) > s.first_day)")
    # The households of the scope with a vulnerable-group tag ever (few), then the tags of those that held in
    # each span.
    scope = cells_clause(cell_ids, params)
    vulnerable = ("vulnerable AS MATERIALIZED (SELECT r.household_id FROM households h JOIN residents r ON "
                  "r.household_id = h.id JOIN resident_tags rt ON rt.resident_id = r.id "
                  "JOIN tags t ON t.id = rt.tag_id "
                  f"WHERE t.sensitive = 1 AND h.occupancy = 'occupied' AND {scope} UNION SELECT ht.household_id "
                  "FROM households h JOIN household_tags ht ON ht.household_id = h.id JOIN tags t ON t.id = ht.tag_id "
                  f"WHERE t.sensitive = 1 AND h.occupancy = 'occupied' AND {scope})")
    tagged = ("SELECT s.i, r.household_id, t.cycle_days, t.sensitive FROM vulnerable x JOIN residents r ON "
              "r.household_id = x.household_id JOIN resident_tags rt ON rt.resident_id = r.id JOIN tags t ON "
              f"t.id = rt.tag_id CROSS JOIN spans s WHERE {held} "
              "UNION ALL SELECT s.i, ht.household_id, t.cycle_days, t.sensitive FROM vulnerable x "
              "JOIN household_tags ht "
              "ON ht.household_id = x.household_id JOIN tags t ON t.id = ht.tag_id CROSS JOIN spans s")
    days = "(CASE WHEN held.days < :default_cycle THEN held.days ELSE :default_cycle END)"
    contact = (f"EXISTS (SELECT 1 FROM visits v {STANDING_JOIN} WHERE v.household_id = h.id "
               f"AND v.visited_at >= st.since_at AND v.visited_at < s.end_at AND {COUNTS} "
               f"AND {status.contact_outcome(days)})")
    found = rows(db, f"{head}, {vulnerable}, held AS (SELECT i, household_id, "
                     "coalesce(min(cycle_days), :default_cycle) AS days "
                     f"FROM ({tagged}) AS tagged GROUP BY i, household_id HAVING max(sensitive) = 1) "
                     f"SELECT held.i, count(*) AS households, count(*) FILTER (WHERE {contact}) AS visited "
                     "FROM held JOIN spans s ON s.i = held.i JOIN span_starts st ON st.i = held.i "
                     f"AND st.days = {days} JOIN households h ON h.id = held.household_id "
                     f"WHERE h.occupancy = 'occupied' AND h.created_at < s.end_at "
                     "AND coalesce(h.retired_at, s.end_at) > s.start_at GROUP BY held.i", params)
    by_span = {r["i"]: r for r in found}
    return [{"i": i, "households": by_span.get(i, {}).get("households", 0),
             "visited": by_span.get(i, {}).get("visited", 0)} for i in range(len(spans))]


def _request_scope(cell_ids, params):
    """The FROM of requests q with their places, and the SQL restricting them to cell_ids (None: all)."""
    return f"FROM requests q {places.PLACE}", cells_clause(cell_ids, params, places.CELL, "rcell")


def requests_per_span(db, clock, spans, cell_ids):
    """Per span, category and channel: the requests of cell_ids raised in it and those resolved in it (each once
    per span, however often it was resolved)."""
    params = {}
    _span_params(clock, spans, params)
    source, scope = _request_scope(cell_ids, params)
    raised = rows(db, f"SELECT {_bucket('q.created_at', spans)} AS i, q.category, q.channel, count(*) AS n "
                      f"{source} WHERE {scope} AND q.created_at >= :first_start AND q.created_at < :last_end "
                      "GROUP BY 1, 2, 3", params)
    resolved = rows(db, f"SELECT i, category, channel, count(*) AS n FROM (SELECT DISTINCT "
                        f"{_bucket('e.at', spans)} AS i, q.id, q.category, q.channel FROM request_events e "
                        f"JOIN requests q ON q.id = e.request_id {places.PLACE}WHERE {scope} AND e.kind = 'resolved' "
                        "AND e.at >= :first_start AND e.at < :last_end) AS once GROUP BY i, category, channel", params)
    return {"raised": raised, "resolved": resolved}


def resolutions(db, clock, start_day, end_day, cell_ids):
    """The requests of cell_ids first resolved from start_day to end_day: category, when raised and first
    resolved (UTC), the due date, and the local day of that resolution."""
    params = {}
    _span_params(clock, [(start_day, end_day)], params)
    source, scope = _request_scope(cell_ids, params)
    return rows(db, f"SELECT * FROM (SELECT q.id, q.category, q.created_at, q.due_date, "
                    "(SELECT min(e.at) FROM request_events e WHERE e.request_id = q.id AND e.kind = 'resolved') "
                    f"AS resolved_at {source} WHERE {scope}) AS first "
                    "WHERE resolved_at >= :first_start AND resolved_at < :last_end ORDER BY id", params)


def return_visits_per_span(db, clock, spans, cell_ids):
    """Per span: the return visits (回访) of requests of cell_ids in it, satisfied (closed) and not (reopened)."""
    return _answers_per_span(db, clock, spans, cell_ids, "request_events a", "a.kind = 'return_visit'",
                             satisfied="a.to_status = 'closed'", not_satisfied="a.to_status = 'open'")


def resident_ratings_per_span(db, clock, spans, cell_ids):
    """Per span: the residents' own ratings (through the tracking code) of requests of cell_ids, satisfied and
    not."""
    return _answers_per_span(db, clock, spans, cell_ids, "report_ratings a", "TRUE",
                             satisfied="a.satisfied = 1", not_satisfied="a.satisfied = 0")


def _answers_per_span(db, clock, spans, cell_ids, source, condition, *, satisfied, not_satisfied):
    """Per span: the answers a (rows of source meeting condition, with request_id and at) about requests of
    cell_ids, counted satisfied and not."""
    params = {}
    _span_params(clock, spans, params)
    _source, scope = _request_scope(cell_ids, params)
    found = rows(db, f"SELECT {_bucket('a.at', spans)} AS i, count(*) FILTER (WHERE {satisfied}) AS satisfied, "
                     f"count(*) FILTER (WHERE {not_satisfied}) AS not_satisfied FROM {source} "
                     f"JOIN requests q ON q.id = a.request_id {places.PLACE}"
                     f"WHERE {scope} AND {condition} AND a.at >= :first_start AND a.at < :last_end GROUP BY 1",
                     params)
    by_span = {r["i"]: r for r in found}
    return [{"i": i, "satisfied": by_span.get(i, {}).get("satisfied", 0),
             "not_satisfied": by_span.get(i, {}).get("not_satisfied", 0)} for i in range(len(spans))]


def _overdue_at():
    """SQL of whether request q was overdue at the end of span s: raised by then, due before its last day, and
    open or in progress then (its latest event before the span ended says; unchanged since: as it is now)."""
    then = ("(SELECT e.to_status FROM request_events e WHERE e.request_id = q.id AND e.at < s.end_at "
            "AND e.to_status IS NOT NULL ORDER BY e.at DESC, e.id DESC LIMIT 1)")
    return (f"q.created_at < s.end_at AND q.due_date < s.last_day AND (CASE WHEN q.updated_at < s.end_at "
            f"THEN q.status IN {_OPEN} ELSE {then} IN {_OPEN} END)")


def overdue_per_span(db, clock, spans, cell_ids):
    """Per span and responsible person (as the ledger names them now): the requests of cell_ids overdue at its end."""
    params = {}
    head = "WITH " + _spans(clock, spans, params)
    _source, scope = _request_scope(cell_ids, params)
    return rows(db, f"{head} SELECT s.i, q.responsible_user_id AS user_id, u.display_name AS name, count(*) AS n "
                    f"FROM spans s CROSS JOIN requests q {places.PLACE}"
                    "LEFT JOIN users u ON u.id = q.responsible_user_id "
                    f"WHERE {scope} AND {_overdue_at()} "
                    "GROUP BY s.i, q.responsible_user_id, u.display_name ORDER BY s.i, n DESC, name", params)


def overdue_list(db, clock, day, cell_ids):
    """The requests of cell_ids overdue at the end of day, the longest late first: category, place, responsible
    person, due date and days late then."""
    params = {}
    head = "WITH " + _spans(clock, [(day, day)], params)
    _source, scope = _request_scope(cell_ids, params)
    late = db.dialect.days_between("s.last_day", "q.due_date")
    return rows(db, f"{head} SELECT q.id, q.category, q.channel, q.due_date, {late} AS days_late, "
                    "coalesce(h.address, b.name, c.name) AS place, u.display_name AS responsible "
                    f"FROM spans s CROSS JOIN requests q {places.PLACE}LEFT JOIN cells c ON c.id = q.cell_id "
                    f"LEFT JOIN users u ON u.id = q.responsible_user_id WHERE {scope} AND {_overdue_at()} "
                    "ORDER BY days_late DESC, q.id", params)


def raised_in(db, clock, first, last, cell_ids):
    """The requests of cell_ids raised from first to last: per channel, category and status (now)."""
    params = {}
    _span_params(clock, [(first, last)], params)
    source, scope = _request_scope(cell_ids, params)
    return rows(db, f"SELECT q.channel, q.category, q.status, count(*) AS n {source} WHERE {scope} "
                    "AND q.created_at >= :s0_start AND q.created_at < :s0_end GROUP BY q.channel, q.category, q.status",
                params)


def referral_answers(db, clock, first, last, cell_ids):
    """Per platform: the requests of cell_ids referred to it from first to last, and how many of those referrals
    it has accepted, answered (a reply or done) and handed back since."""
    params = {}
    _span_params(clock, [(first, last)], params)
    _source, scope = _request_scope(cell_ids, params)
    return rows(db, "SELECT p.code AS platform, count(*) AS referred, "
                    "count(*) FILTER (WHERE r.accepted_at IS NOT NULL) AS accepted, "
                    "count(*) FILTER (WHERE r.answered_at IS NOT NULL) AS answered, "
                    "count(*) FILTER (WHERE r.state = 'handed_back') AS handed_back "
                    "FROM referrals r JOIN partners p ON p.id = r.partner_id "
                    f"JOIN requests q ON q.id = r.request_id {places.PLACE}"
                    f"WHERE {scope} AND r.referred_at >= :s0_start AND r.referred_at < :s0_end "
                    "GROUP BY p.code ORDER BY referred DESC, platform", params)


def frequent_by_building(db, clock, first, last, cell_ids, limit=10):
    """The buildings whose requests of cell_ids raised from first to last were the most, per category: the first
    limit (building, category, count)."""
    params = {"limit": limit}
    _span_params(clock, [(first, last)], params)
    _source, scope = _request_scope(cell_ids, params)
    return rows(db, "SELECT bb.id AS building_id, bb.name AS building, q.category, count(*) AS n "
                    f"FROM requests q {places.PLACE}"
                    "JOIN buildings bb ON bb.id = coalesce(h.building_id, q.building_id) "
                    f"WHERE {scope} AND q.created_at >= :s0_start AND q.created_at < :s0_end "
                    "GROUP BY bb.id, bb.name, q.category ORDER BY n DESC, bb.name, q.category LIMIT :limit", params)


def vulnerable_in_period(db, clock, period, cell_ids):
    """The households of cell_ids with a vulnerable-group tag held on a past period's last day: how many, and how
    many got the contacts their cycle asks for in it (the coverage checklist's rule for a period)."""
    params = {}
    sql = _period(db, clock, period, cell_ids, params)
    sensitive = ("(EXISTS (SELECT 1 FROM residents r JOIN resident_tags rt ON rt.resident_id = r.id "
                 "JOIN tags t ON t.id = rt.tag_id WHERE r.household_id = h.id AND t.sensitive = 1 "
                 "AND (r.moved_out_at IS NULL OR substr(r.moved_out_at, 1, 10) > :held_on) "
                 "AND (rt.started_on IS NULL OR rt.started_on <= :held_on) "
                 "AND (rt.ended_on IS NULL OR rt.ended_on > :held_on)) OR EXISTS (SELECT 1 FROM household_tags ht "
                 "JOIN tags t ON t.id = ht.tag_id WHERE ht.household_id = h.id AND t.sensitive = 1))")
    columns = f"count(*) AS households, count(*) FILTER (WHERE {_CONTACTS} >= {_needed(db.dialect)}) AS visited"
    found = rows(db, sql.format(columns=columns) + f" AND {sensitive}", params)[0]
    return {"households": found["households"] or 0, "visited": found["visited"] or 0}


def data_began(db):
    """The earliest UTC instant the records hold (a household added, a visit received, a request raised), or None."""
    # A visit's device time may precede its arrival by the days a phone kept it offline: a month's margin.
    received = scalar(db, "SELECT min(received_at) FROM visits")  # by index visits_received
    if received:
        received = rules.iso(rules.parse_iso(received) - timedelta(days=31))
    found = [scalar(db, "SELECT min(created_at) FROM households"), received,
             scalar(db, "SELECT min(created_at) FROM requests")]
    found = [stamp for stamp in found if stamp]
    return min(found) if found else None


def grid(db, grid_id):
    """A grid's id, code and name, or None."""
    found = rows(db, "SELECT id, code, name FROM grids WHERE id = ?", [grid_id])
    return found[0] if found else None
