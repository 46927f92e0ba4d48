"""The demo community: geometry that tiles, people and visits that look real, a register with its history, visits
for the review list, the same every time; on the run's engine."""
import json
import re
from collections import Counter
from datetime import date, timedelta
from itertools import combinations

import pytest
from argon2 import PasswordHasher
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from fieldapp import demo, rules
from fieldapp.data import register
from fieldapp.data import visits as visit_data
from fieldapp.data.db import connect, rows, scalar
from tests import engines

TODAY = date(2026, 11, 28)
FIRST_DAY = TODAY - timedelta(days=90)  # the records begin
REMOTE = ("phone_call", "no_answer")


@pytest.fixture(scope="module")
def built(engine, tmp_path_factory):
    """The default demo community, built once for this module on the run's engine, and where its GeoJSON went."""
    folder = tmp_path_factory.mktemp("demo")
    target = engine.create("demo_community")
    db = connect(target, migrate=True)
    summary = demo.build(db, today=TODAY, geodata_dir=folder / "geodata")
    yield db, summary, folder / "geodata"
    db.close()
    engine.drop(target)


@pytest.fixture(scope="module")
def db(built):
    """The demo database."""
    return built[0]


def cell_shapes(db):
    """Each cell's id and shapely polygon."""
    return {row["id"]: shape(json.loads(row["geometry"])) for row in rows(db, "SELECT id, geometry FROM cells")}


def statuses_by_rule(db):
    """Each household's (id, cell_id, status) as the pure rule rules.household_status decides it from its visits as
    they stand: the latest that counts as contact for its cycle (rules.counts_as_contact)."""
    found = rows(db, """
        SELECT h.id, h.cell_id, h.occupancy,
          (SELECT count(*) FROM requests r WHERE r.household_id = h.id
             AND r.status IN ('open', 'in_progress') AND r.due_date < :today) AS overdue,
          (SELECT count(*) FROM requests r WHERE r.household_id = h.id
             AND r.status IN ('open', 'in_progress')) AS open,
          (SELECT min(t.cycle_days) FROM residents p JOIN resident_tags rt ON rt.resident_id = p.id
             JOIN tags t ON t.id = rt.tag_id WHERE p.household_id = h.id AND p.moved_out_at IS NULL
             AND rt.ended_on IS NULL) AS tag_days
        FROM households h""", {"today": TODAY.isoformat()})
    visits = {}
    # Each visit as it stands: an amended outcome counts as amended, a visit rejected in review not at all.
    for visit in rows(db, "SELECT v.household_id, v.visited_at, coalesce(vs.outcome, v.outcome) AS outcome "
                          "FROM visits v LEFT JOIN visit_standing vs ON vs.visit_id = v.id "
                          "WHERE coalesce(vs.rejected, 0) = 0"):
        visits.setdefault(visit["household_id"], []).append(visit)
    result = []
    for row in found:
        days = rules.cycle_days([row["tag_days"]], 30)
        contacts = [rules.local_date(v["visited_at"]) for v in visits.get(row["id"], [])
                    if rules.counts_as_contact(v["outcome"], days)]
        result.append((row["id"], row["cell_id"], rules.household_status(
            occupancy=row["occupancy"], overdue_requests=row["overdue"], open_requests=row["open"],
            last_contact_day=max(contacts, default=None), days=days, on_day=TODAY)))
    return result


def household_statuses(db, cell_ids=None):
    """How many households (of those in cell_ids) have each status, by the pure rule."""
    return Counter(status for _id, cell_id, status in statuses_by_rule(db) if cell_ids is None or cell_id in cell_ids)


def test_summary_matches_the_tables(built):
    db, summary, _folder = built
    for table, count in summary.items():
        assert scalar(db, f"SELECT count(*) FROM {table}") == count, table
    assert summary["households"] == 2000
    assert summary["grids"] == 3 and summary["cells"] == 15
    assert 9 <= summary["visits"] / summary["households"] <= 12


@pytest.mark.skipif(engines.POSTGRES, reason="SQLite's bulk load alone leaves the checks to the end (COPY checks rows)")
def test_rows_satisfy_the_schema_checked_after_the_bulk_load(db):
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    pragmas = [db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("foreign_keys", "synchronous",
                                                                         "ignore_check_constraints")]
    assert pragmas == [1, 2, 0]  # the app's settings are back


def test_cells_tile_the_area_without_gap_or_overlap(db):
    polygons = list(cell_shapes(db).values())
    for polygon in polygons:
        assert polygon.is_valid and polygon.exterior.is_ccw  # RFC 7946: exterior rings counterclockwise
    for a, b in combinations(polygons, 2):
        assert a.intersection(b).area < 1e-12
    union = unary_union(polygons)
    assert union.geom_type == "Polygon" and not union.interiors
    assert union.area == pytest.approx(sum(p.area for p in polygons), rel=1e-9)


def test_cells_lie_in_xihu_and_keep_their_bounding_box(db):
    for row in rows(db, "SELECT * FROM cells"):
        polygon = shape(json.loads(row["geometry"]))
        assert polygon.bounds == (row["min_lon"], row["min_lat"], row["max_lon"], row["max_lat"])
        assert 119.9 < row["min_lon"] and row["max_lon"] < 120.2
        assert 30.2 < row["min_lat"] and row["max_lat"] < 30.4


def test_buildings_and_households_lie_inside_their_cell(db):
    cells = cell_shapes(db)
    for row in rows(db, "SELECT cell_id, lon, lat FROM buildings"):
        assert cells[row["cell_id"]].contains(Point(row["lon"], row["lat"]))
    points = rows(db, """SELECT h.cell_id, h.building_id, h.lon AS own_lon,
                                coalesce(h.lon, b.lon) AS lon, coalesce(h.lat, b.lat) AS lat
                         FROM households h LEFT JOIN buildings b ON b.id = h.building_id""")
    for row in points:
        assert cells[row["cell_id"]].contains(Point(row["lon"], row["lat"]))
        # A village house has a point of its own; a flat has its building's.
        assert (row["building_id"] is None) == (row["own_lon"] is not None)
    assert 0.8 < sum(row["building_id"] is not None for row in points) / len(points) < 0.9


def test_cells_hold_realistic_numbers_of_households(db):
    sizes = [row["n"] for row in rows(db, "SELECT count(*) AS n FROM households GROUP BY cell_id")]
    assert len(sizes) == 15 and all(20 <= size <= 300 for size in sizes)


def test_every_household_status_appears_also_in_member1s_cells(db):
    statuses = household_statuses(db)
    assert set(statuses) == set(rules.STATUSES)
    assert 0.15 < statuses["due"] / 2000 < 0.35
    member1_cells = {row["cell_id"] for row in rows(db, """
        SELECT cell_id FROM assignments JOIN users ON users.id = assignments.user_id
        WHERE users.username = 'member1' AND valid_to IS NULL""")}
    assert set(household_statuses(db, member1_cells)) == set(rules.STATUSES)


def test_accounts_have_their_roles_and_the_demo_password(db):
    users = {row["username"]: row for row in rows(db, "SELECT * FROM users")}
    assert users["admin"]["role"] == "admin"
    grids = [row["id"] for row in rows(db, "SELECT id FROM grids ORDER BY id")]
    assert (users["leader1"]["role"], users["leader1"]["grid_id"]) == ("leader", grids[0])
    assert (users["leader2"]["role"], users["leader2"]["grid_id"]) == ("leader", grids[1])
    for number in range(1, 13):
        assert users[f"member{number}"]["role"] == "member"
    assert PasswordHasher().verify(users["member7"]["password_hash"], "demo1234")
    assert len({row["password_hash"] for row in users.values()}) == 1  # hashed once


def test_every_cell_has_a_member_and_member1_holds_apartments_in_grid_1(db):
    assert not rows(db, """SELECT id FROM cells WHERE id NOT IN
                           (SELECT cell_id FROM assignments WHERE valid_to IS NULL)""")
    assert rows(db, "SELECT id FROM assignments WHERE valid_to IS NOT NULL")
    held = rows(db, """
        SELECT cells.grid_id, count(households.id) AS households, count(households.building_id) AS apartments
        FROM assignments JOIN users ON users.id = assignments.user_id JOIN cells ON cells.id = assignments.cell_id
        JOIN households ON households.cell_id = cells.id
        WHERE users.username = 'member1' AND assignments.valid_to IS NULL GROUP BY cells.grid_id""")
    leader1_grid = scalar(db, "SELECT grid_id FROM users WHERE username = 'leader1'")
    assert [row["grid_id"] for row in held] == [leader1_grid]
    assert held[0]["households"] >= 100 and held[0]["apartments"] > 0
    per_member = [row["n"] for row in rows(db, """SELECT count(*) AS n FROM assignments
                                                  WHERE valid_to IS NULL GROUP BY user_id""")]
    assert len(per_member) >= 12 and all(1 <= n <= 2 for n in per_member)


def test_visits_are_by_assigned_members_in_daytime_near_the_household(db):
    visits = rows(db, """
        SELECT v.*, coalesce(h.lon, b.lon) AS home_lon, coalesce(h.lat, b.lat) AS home_lat,
          EXISTS (SELECT 1 FROM assignments a WHERE a.cell_id = h.cell_id AND a.user_id = v.user_id
                  AND a.valid_from <= v.visited_at AND (a.valid_to IS NULL OR a.valid_to > v.visited_at)
          ) AS assigned
        FROM visits v JOIN households h ON h.id = v.household_id LEFT JOIN buildings b ON b.id = h.building_id""")
    assert len({visit["uuid"] for visit in visits}) == len(visits)
    for visit in visits:
        visited = rules.parse_iso(visit["visited_at"])
        assert rules.iso(visited) == visit["visited_at"]
        assert TODAY - timedelta(days=90) <= rules.local_date(visited) < TODAY
        assert 8 <= visited.astimezone(rules.SHANGHAI).hour < 21
        assert visit["visited_at"] <= visit["received_at"]
        assert visit["assigned"]
        if visit["location_flag"] == "no_location":
            assert visit["lat"] is None and visit["no_location_reason"]
            continue
        distance = rules.distance_m(visit["home_lon"], visit["home_lat"], visit["lon"], visit["lat"])
        assert visit["distance_m"] == pytest.approx(distance, abs=0.1)
        assert visit["location_flag"] == rules.location_flag(distance, visit["accuracy_m"])
    # At the door the phone is mostly where the household is; a phone call is made from anywhere.
    at_door = Counter(visit["location_flag"] for visit in visits if visit["outcome"] not in REMOTE)
    assert at_door["ok"] / sum(at_door.values()) > 0.85 and set(at_door) == set(rules.LOCATION_FLAGS)
    remote = Counter(visit["location_flag"] for visit in visits if visit["outcome"] in REMOTE)
    assert remote["off_site"] / sum(remote.values()) > 0.9
    assert Counter(visit["outcome"] for visit in visits).most_common(1)[0][0] == "met"


def test_visits_name_residents_of_their_household_there_that_day_and_set_the_last_visit(db):
    residents = {row["id"]: row for row in rows(db, "SELECT id, household_id, moved_out_at, created_at FROM residents")}
    for visit in rows(db, "SELECT household_id, outcome, residents_met, visited_at, received_at FROM visits"):
        met = [residents[resident] for resident in json.loads(visit["residents_met"])]
        assert bool(met) == (visit["outcome"] in rules.CONTACT_OUTCOMES)
        for resident in met:
            assert resident["household_id"] == visit["household_id"]
            # Not after they left; a resident added at the door is created when the visit arrives.
            assert resident["moved_out_at"] is None or rules.local_date(visit["visited_at"]).isoformat() < \
                resident["moved_out_at"]
            assert resident["created_at"] <= visit["received_at"]
    assert not rows(db, """
        SELECT h.id FROM households h LEFT JOIN visits v ON v.household_id = h.id
          AND v.visited_at = (SELECT max(w.visited_at) FROM visits w WHERE w.household_id = h.id)
        WHERE h.last_visit_at IS DISTINCT FROM v.visited_at OR h.last_visit_user_id IS DISTINCT FROM v.user_id""")


def test_requests_follow_the_ledger_rules(db):
    due_days = {row["code"]: row["due_days"] for row in rows(db, "SELECT * FROM categories")}
    requests = rows(db, """SELECT r.*, v.household_id AS visit_household, v.user_id AS visit_user
                           FROM requests r JOIN visits v ON v.id = r.visit_id""")
    assert 0.05 < len(requests) / 2000 < 0.11
    assert len({request["uuid"] for request in requests}) == len(requests)
    assert set(request["status"] for request in requests) == set(rules.REQUEST_STATUSES)
    overdue = [r for r in requests if rules.is_overdue(r["status"], date.fromisoformat(r["due_date"]), TODAY)]
    assert overdue and any(r["referral"] for r in requests)
    events = {}
    for event in rows(db, "SELECT * FROM request_events ORDER BY request_id, at, id"):
        events.setdefault(event["request_id"], []).append(event)
    for request in requests:
        assert request["household_id"] == request["visit_household"]
        assert request["created_by"] == request["visit_user"] == request["responsible_user_id"]
        raised = rules.local_date(request["created_at"])
        assert request["due_date"] == rules.request_due_date(raised, due_days[request["category"]]).isoformat()
        assert (request["resolution"] is not None) == (request["status"] in ("resolved", "closed"))
        history = events[request["id"]]
        assert history[0]["kind"] == "created" and history[0]["visit_id"] == request["visit_id"]
        assert [e["to_status"] for e in history if e["to_status"]][-1] == request["status"]
        assert history[-1]["at"] == request["updated_at"] < TODAY.isoformat()
    kinds = Counter(event["kind"] for history in events.values() for event in history)
    assert set(kinds) == {"created", "status", "progress", "resolved", "return_visit", "closed"}


def test_residents_look_real(db):
    residents = rows(db, "SELECT * FROM residents")
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", r["name"]) for r in residents)
    phones = [r["phone"] for r in residents if r["phone"]]
    assert all(re.fullmatch(r"1[3589]\d{9}", phone) for phone in phones)
    assert 0.6 < len(phones) / len(residents) < 1
    per_household = Counter(r["household_id"] for r in residents)
    assert set(per_household.values()) <= {1, 2, 3, 4}
    # Each household that has residents has one head (a new one when the head died).
    current = [r for r in residents if r["moved_out_at"] is None]
    heads = Counter(r["household_id"] for r in current if r["relation"] == "户主")
    assert set(heads) == {r["household_id"] for r in current} and set(heads.values()) == {1}
    assert set(r["relation"] for r in residents) == {"户主", "配偶", "子女", "父母", "孙辈"}
    users = rows(db, "SELECT display_name FROM users")
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", u["display_name"]) for u in users)


def test_tags_come_in_realistic_shares(db):
    shares = {row["code"]: row["n"] / 2000 for row in rows(db, """
        SELECT t.code, count(DISTINCT p.household_id) AS n FROM resident_tags rt
        JOIN tags t ON t.id = rt.tag_id JOIN residents p ON p.id = rt.resident_id
        WHERE rt.ended_on IS NULL GROUP BY t.code""")}
    assert 0.03 < shares["elderly_alone"] < 0.07 and 0.03 < shares["party_member"] < 0.09
    assert 0.003 < shares["left_behind_child"] < 0.02 and 0.01 < shares["low_income"] < 0.04
    alone = rows(db, """SELECT p.household_id, p.birth_year, p.moved_out_at, (SELECT count(*) FROM residents q
                          WHERE q.household_id = p.household_id AND q.moved_out_at IS NULL) AS people
                        FROM residents p JOIN resident_tags rt ON rt.resident_id = p.id
                        JOIN tags t ON t.id = rt.tag_id WHERE t.code = 'elderly_alone' AND rt.ended_on IS NULL""")
    assert alone and all(row["moved_out_at"] is None and row["people"] == 1 and row["birth_year"] < 1955
                         for row in alone)


def test_geojson_files_match_the_database(built):
    db, summary, folder = built
    expected = {"cells": ({"code", "name", "grid_code"}, summary["cells"]),
                "buildings": ({"external_id", "name", "kind", "cell_code"}, summary["buildings"]),
                "households": ({"external_id", "building_external_id", "unit", "room", "address", "cell_code",
                                "occupancy"}, summary["households"])}
    for name, (properties, count) in expected.items():
        collection = json.loads((folder / f"{name}.geojson").read_text(encoding="utf-8"))
        assert collection["type"] == "FeatureCollection" and len(collection["features"]) == count
        for feature in collection["features"]:
            assert set(feature["properties"]) == properties
            coordinates = json.dumps(feature["geometry"]["coordinates"])
            assert not re.search(r"\.\d{7,}", coordinates)  # six decimals at most
    assert (folder / "households.geojson").stat().st_size < 1_000_000
    cell = json.loads((folder / "cells.geojson").read_text(encoding="utf-8"))["features"][0]
    assert cell["geometry"] == json.loads(scalar(db, "SELECT geometry FROM cells ORDER BY id"))


def small_demo(tmp_path, name, **options):
    """Build a small demo into its own database; return the database and its GeoJSON folder."""
    db = connect(str(tmp_path / f"{name}.db"), migrate=True)
    demo.build(db, households=300, geodata_dir=tmp_path / name, **{"today": TODAY, **options})
    return db, tmp_path / name


def content(db, folder):
    """Everything that must come out the same: the rows of the main tables and the GeoJSON bytes."""
    names = ("cells", "buildings", "households", "residents", "resident_tags", "visits", "requests", "request_events",
             "visit_amendments", "register_changes", "review_events")
    tables = {table: db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in names}
    files = {path.name: path.read_bytes() for path in sorted(folder.iterdir())}
    return tables, files


def test_same_seed_and_day_same_community(tmp_path):
    first = content(*small_demo(tmp_path, "a", seed=7))
    assert first == content(*small_demo(tmp_path, "b", seed=7))
    other_seed = content(*small_demo(tmp_path, "c", seed=8))
    assert other_seed[0]["households"] != first[0]["households"] and other_seed[1] != first[1]
    other_day = content(*small_demo(tmp_path, "d", seed=7, today=TODAY + timedelta(days=3)))
    assert other_day[1] == first[1]  # the GeoJSON holds places only, never dates
    assert other_day[0]["visits"] != first[0]["visits"]


def test_the_status_query_agrees_with_the_pure_rule_for_every_household(db):
    from fieldapp.data import households

    clock = {"today": TODAY.isoformat(), "offset": "+480 minutes", "default_cycle": 30}
    by_sql = {row["id"]: row["status"] for row in households.with_status(db, clock)}
    by_rule = {household_id: status for household_id, _cell, status in statuses_by_rule(db)}
    assert len(by_sql) == 2000
    assert by_sql == by_rule


def counted_visits(db):
    """Every visit as it stands (amended outcome, rejected in review), with its household's cycle and cell."""
    cycles = {household_id: days for household_id, days in (
        (row["household_id"], row["days"]) for row in rows(db, """
            SELECT p.household_id, min(t.cycle_days) AS days FROM residents p
            JOIN resident_tags rt ON rt.resident_id = p.id JOIN tags t ON t.id = rt.tag_id
            WHERE p.moved_out_at IS NULL AND rt.ended_on IS NULL GROUP BY p.household_id"""))}
    found = rows(db, f"""
        SELECT v.id, v.household_id, v.user_id, v.visited_at, v.received_at, {visit_data.OUTCOME_NOW} AS outcome,
               coalesce(vs.rejected, 0) AS rejected, h.cell_id, h.occupancy
        FROM visits v {visit_data.STANDING_JOIN} JOIN households h ON h.id = v.household_id ORDER BY v.id""")
    for visit in found:
        visit["cycle"] = rules.cycle_days([cycles.get(visit["household_id"])], 30)
    return found


def this_cycle(db):
    """Each occupied household's counting contacts and attempts in its current cycle, and its cell."""
    households = {}
    for visit in counted_visits(db):
        if visit["occupancy"] != "occupied":
            continue
        mine = households.setdefault(visit["household_id"], {"contacts": 0, "attempts": 0, "cell": visit["cell_id"]})
        if not visit["rejected"] and rules.local_date(visit["visited_at"]) >= rules.cycle_start(TODAY, visit["cycle"]):
            if visit["outcome"] in rules.CONTACT_OUTCOMES:
                mine["contacts"] += 1
            elif visit["outcome"] in rules.ATTEMPT_OUTCOMES:
                mine["attempts"] += 1
    return households


def member1_cells(db):
    """The cells member1 holds now."""
    return {row["cell_id"] for row in rows(db, """
        SELECT cell_id FROM assignments JOIN users ON users.id = assignments.user_id
        WHERE users.username = 'member1' AND valid_to IS NULL""")}


def test_households_keep_the_latest_contact_meeting_and_attempt_as_restand_works_them_out(db):
    query = "SELECT id, last_contact_at, last_met_at, last_attempt_at FROM households ORDER BY id"
    stored = rows(db, query)
    db.begin()
    try:
        for household in stored:
            visit_data.restand(db, household["id"])
        worked_out = rows(db, query)
    finally:
        db.rollback()
    assert worked_out == stored
    assert all(h["last_contact_at"] for h in stored if h["last_met_at"])
    assert any(h["last_met_at"] and h["last_contact_at"] > h["last_met_at"] for h in stored)  # a phone call since
    assert any(h["last_attempt_at"] and (h["last_contact_at"] or "") < h["last_attempt_at"] for h in stored)


def test_visits_reach_residents_at_home_elsewhere_and_by_phone_and_some_households_are_unreachable(db):
    outcomes = Counter(visit["outcome"] for visit in counted_visits(db))
    assert set(outcomes) == set(rules.OUTCOMES)
    contacts = sum(outcomes[outcome] for outcome in rules.CONTACT_OUTCOMES)
    assert 0.75 < contacts / sum(outcomes.values()) < 0.9
    assert min(outcomes[outcome] for outcome in ("met_elsewhere", "phone_call", "no_answer")) > 100
    households = this_cycle(db)
    attempts_only = {h for h, seen in households.items() if seen["attempts"] and not seen["contacts"]}
    unreachable = {h for h in attempts_only if households[h]["attempts"] >= 3}
    assert 10 < len(unreachable) < len(attempts_only) < 0.15 * len(households)
    # member1 sees both, whatever the seed.
    mine = member1_cells(db)
    assert any(households[h]["cell"] in mine for h in unreachable)
    assert any(households[h]["cell"] in mine for h in attempts_only - unreachable)


def test_residents_who_died_or_moved_out_left_on_a_day_of_the_records_and_their_tags_ended(db):
    residents = rows(db, "SELECT * FROM residents")
    left = [r for r in residents if r["moved_out_at"] is not None]
    assert all(r["left_reason"] in ("moved_out", "deceased") for r in left)
    assert all(r["left_reason"] is None and r["moved_to"] is None for r in residents if r["moved_out_at"] is None)
    assert all(FIRST_DAY.isoformat() <= r["moved_out_at"] < TODAY.isoformat() for r in left)
    reasons = Counter((r["left_reason"], r["moved_to"] is not None) for r in left)
    assert reasons["deceased", False] >= 5 and reasons["moved_out", True] >= 5 and reasons["moved_out", False]
    assert not reasons["deceased", True]
    tags = rows(db, "SELECT rt.*, r.moved_out_at FROM resident_tags rt JOIN residents r ON r.id = rt.resident_id")
    assert all(t["ended_on"] is not None and t["ended_on"] <= t["moved_out_at"] for t in tags if t["moved_out_at"])
    # A household that moved out, or stands vacant, has nobody living in it.
    assert not rows(db, """SELECT h.id FROM households h JOIN residents r ON r.household_id = h.id
                           WHERE h.occupancy != 'occupied' AND r.moved_out_at IS NULL""")
    assert scalar(db, "SELECT count(*) FROM households WHERE occupancy = 'vacant'") > 20


def test_tags_have_their_days_and_a_widow_alone_since_the_day_after_the_death(db):
    tags = rows(db, "SELECT * FROM resident_tags")
    assert sum(t["started_on"] is None for t in tags) / len(tags) > 0.85  # from before the records
    started = [t for t in tags if t["started_on"] is not None]
    assert started and all(FIRST_DAY.isoformat() <= t["started_on"] < TODAY.isoformat() for t in started)
    assert all(t["ended_on"] is None or t["started_on"] is None or t["started_on"] <= t["ended_on"] for t in tags)
    assert any(t["ended_on"] for t in tags)
    widowed = rows(db, """
        SELECT rt.started_on, d.moved_out_at AS died_on FROM resident_tags rt
        JOIN tags t ON t.id = rt.tag_id AND t.code = 'elderly_alone' JOIN residents w ON w.id = rt.resident_id
        JOIN residents d ON d.household_id = w.household_id AND d.left_reason = 'deceased'
        WHERE rt.ended_on IS NULL AND w.moved_out_at IS NULL""")
    assert widowed and all(date.fromisoformat(row["started_on"]) == date.fromisoformat(row["died_on"]) + timedelta(1)
                           for row in widowed)


def changes_by_id(db):
    """Every register change with its visit's household, member, times and outcome (None without a visit)."""
    return {row["id"]: row for row in rows(db, """
        SELECT c.*, v.household_id AS visit_household, v.user_id AS visit_user, v.visited_at, v.outcome,
               v.received_at AS visit_received_at
        FROM register_changes c LEFT JOIN visits v ON v.id = c.visit_id ORDER BY c.id""")}


def test_register_changes_were_learnt_at_visits_and_hold_the_registers_history(db):
    changes = changes_by_id(db)
    kinds = Counter((c["kind"], c["field"]) for c in changes.values())
    assert {("resident_added", None), ("resident_left", "status"), ("tag_added", "tag"), ("tag_ended", "tag"),
            ("resident_corrected", "phone"), ("resident_corrected", "name"), ("resident_corrected", "relation")} \
        <= set(kinds)
    assert list(changes) == sorted(changes, key=lambda i: (changes[i]["received_at"], i))  # ids follow arrival
    for change in changes.values():
        assert change["made_at"] <= change["received_at"] < TODAY.isoformat()
        if change["visit_id"] is None:  # in the office: a leader's
            assert change["kind"] == "resident_corrected" and change["made_at"] == change["received_at"]
            continue
        assert change["visit_household"] == change["household_id"]
        if change["resolves_id"] is None:  # made at the door with the visit and sent with it
            assert (change["visit_user"], change["visited_at"], change["visit_received_at"]) == \
                (change["user_id"], change["made_at"], change["received_at"])
            assert change["outcome"] in ("met", "moved_out")
    residents = {r["id"]: r for r in rows(db, "SELECT * FROM residents")}
    left = [c for c in changes.values() if c["kind"] == "resident_left"]
    assert sorted(c["resident_id"] for c in left) == sorted(i for i, r in residents.items() if r["moved_out_at"])
    for change in left:
        resident = residents[change["resident_id"]]
        after = json.loads(change["after"]) if change["after"].startswith("{") else {"status": change["after"]}
        assert after["status"] == resident["left_reason"] and after.get("moved_to") == resident["moved_to"]
        assert after.get("day", resident["moved_out_at"]) == resident["moved_out_at"]
        assert resident["moved_out_at"] <= rules.local_date(change["visited_at"]).isoformat()
    for change in (c for c in changes.values() if c["kind"] == "resident_added"):
        resident, person = residents[change["resident_id"]], json.loads(change["after"])
        assert {key: resident[key] for key in ("name", "phone", "birth_year", "relation", "gender")} == \
            {key: person[key] for key in ("name", "phone", "birth_year", "relation", "gender")}
        assert resident["created_at"] == change["received_at"]
    # Each tag started or ended in the records (not by its resident leaving) has its change.
    tag_changes = {(c["resident_id"], c["kind"], c["after"] or c["before"]) for c in changes.values()
                   if c["field"] == "tag"}
    for tag in rows(db, "SELECT rt.*, t.code, r.moved_out_at FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id "
                        "JOIN residents r ON r.id = rt.resident_id"):
        if tag["started_on"]:
            assert (tag["resident_id"], "tag_added", tag["code"]) in tag_changes
        if tag["ended_on"] and tag["ended_on"] != tag["moved_out_at"]:
            assert (tag["resident_id"], "tag_ended", tag["code"]) in tag_changes


def subject(change):
    """What a change is about: a later applied change of the same subject supersedes it."""
    if change["field"] == "tag":
        return change["resident_id"], "tag", change["after"] or change["before"]
    return change["resident_id"], change["field"]


def test_an_applied_change_holds_in_the_register_unless_a_later_one_changed_it(db):
    applied = [c for c in changes_by_id(db).values() if c["state"] == "applied" and c["kind"] != "resident_added"]
    latest = {subject(change): change for change in applied}
    left = {c["resident_id"]: c["id"] for c in applied if c["kind"] == "resident_left"}
    for change in latest.values():
        if change["kind"] == "resident_left":
            wanted = json.loads(change["after"])["status"] if change["after"].startswith("{") else change["after"]
        elif change["field"] == "tag":  # a resident's tags end when they leave
            held = change["kind"] == "tag_added" and left.get(change["resident_id"], change["id"]) <= change["id"]
            wanted = change["after"] if held else None
        else:
            wanted = change["after"]
        assert register.current_value(db, change) == wanted, change
    assert len(latest) > 100


def test_conflicts_wait_for_review_not_applied_and_some_were_decided(db):
    changes = changes_by_id(db)
    decisions = {row["subject_id"]: row for row in rows(db, "SELECT * FROM review_events WHERE subject = 'change' "
                                                            "AND action IN ('apply', 'keep')")}
    conflicts = [c for c in changes.values() if c["state"] == "conflict"]
    waiting = [c for c in conflicts if c["id"] not in decisions]
    assert len(waiting) >= 3 and {decision["action"] for decision in decisions.values()} == {"apply", "keep"}
    for conflict in conflicts:
        assert conflict["server_value"] and conflict["server_value"] != conflict["before"] != conflict["after"]
        # The leader's change in the office, before it, made the server's value.
        assert any(c["state"] == "applied" and c["id"] < conflict["id"] and c["after"] == conflict["server_value"]
                   and c["resident_id"] == conflict["resident_id"] and c["visit_id"] is None for c in changes.values())
        now = register.current_value(db, conflict)
        applied = [c for c in changes.values() if c["resolves_id"] == conflict["id"]]
        if decisions.get(conflict["id"], {}).get("action") == "apply":
            assert [c["state"] for c in applied] == ["applied"] and now == conflict["after"]
            assert applied[0]["made_at"] == decisions[conflict["id"]]["at"]
        else:  # waiting, or the server's value kept
            assert not applied and now == conflict["server_value"]


def review_events(db):
    """The review events of visits with their visit's member, arrival and household's grid leader."""
    return rows(db, """
        SELECT e.*, v.user_id AS member, v.received_at, v.visited_at, u.id AS leader FROM review_events e
        JOIN visits v ON v.id = e.subject_id JOIN households h ON h.id = v.household_id
        JOIN cells c ON c.id = h.cell_id JOIN users u ON u.grid_id = c.grid_id AND u.role = 'leader'
        WHERE e.subject = 'visit' ORDER BY e.id""")


def test_the_leaders_review_asks_answers_accepts_and_rejects_and_questions_wait(db):
    events = review_events(db)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    latest = {}
    for event in events:
        assert event["user_id"] == (event["member"] if event["action"] == "answer" else event["leader"])
        assert event["received_at"] < event["at"] < TODAY.isoformat()
        assert event["action"] in ("accept", "ask", "answer", "reject")
        latest[event["subject_id"]] = event["action"]
    waiting = Counter(latest.values())
    assert waiting["ask"] >= 5 and waiting["answer"] >= 5 and waiting["accept"] > 100 and 1 <= waiting["reject"] <= 4
    standing = {row["visit_id"]: row for row in rows(db, "SELECT * FROM visit_standing")}
    assert {v for v, row in standing.items() if row["rejected"]} == {v for v, a in latest.items() if a == "reject"}
    # A rejected visit no longer counts: its household's contact is an earlier one.
    for visit in rows(db, "SELECT v.visited_at, h.last_contact_at, h.last_visit_at FROM visit_standing s "
                          "JOIN visits v ON v.id = s.visit_id JOIN households h ON h.id = v.household_id "
                          "WHERE s.rejected = 1"):
        assert (visit["last_contact_at"] or "") < visit["visited_at"] == visit["last_visit_at"]
    amended = rows(db, "SELECT a.visit_id, a.outcome, s.outcome AS standing, s.rejected FROM visit_amendments a "
                       "JOIN visit_standing s ON s.visit_id = a.visit_id")
    assert amended and all(a["outcome"] == a["standing"] and not a["rejected"] for a in amended)
    assert len(amended) == sum(1 for row in standing.values() if not row["rejected"])


def test_the_review_list_has_late_visits_and_bursts(db):
    visits = counted_visits(db)
    late = [v for v in visits if rules.parse_iso(v["received_at"]) - rules.parse_iso(v["visited_at"]) > timedelta(1)]
    assert 0.002 < len(late) / len(visits) < 0.01
    by_member = {}
    for visit in sorted(visits, key=lambda v: v["visited_at"]):
        by_member.setdefault(visit["user_id"], []).append(visit)
    bursts = 0
    for theirs in by_member.values():
        for index, visit in enumerate(theirs):
            start = rules.parse_iso(visit["visited_at"])
            within = {v["household_id"] for v in theirs[index:index + 8]
                      if rules.parse_iso(v["visited_at"]) - start <= timedelta(minutes=10)}
            bursts += len(within) >= 5 and (index == 0 or rules.parse_iso(theirs[index - 1]["visited_at"])
                                           < start - timedelta(minutes=10))
    assert bursts >= 5
