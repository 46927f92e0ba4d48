"""The demo community: geometry that tiles, people and visits that look real, the same every time."""
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
from fieldapp.data.db import connect

TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The default demo community, built once for this module, and where its GeoJSON went."""
    folder = tmp_path_factory.mktemp("demo")
    db = connect(str(folder / "demo.db"), migrate=True)
    summary = demo.build(db, today=TODAY, geodata_dir=folder / "geodata")
    return db, summary, folder / "geodata"


@pytest.fixture(scope="module")
def db(built):
    """The demo database."""
    return built[0]


def rows(db, sql, params=()):
    """Rows of a query as dicts."""
    return list(db.query(sql, params))


def cell_shapes(db):
    """Each cell's id and shapely polygon."""
    return {row["id"]: shape(json.loads(row["geometry"])) for row in db.query("SELECT id, geometry FROM cells")}


def statuses_by_rule(db):
    """Each household's (id, cell_id, status) as the pure rule rules.household_status decides it from its visits:
    the latest that counts as contact for its cycle (rules.counts_as_contact)."""
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
    for visit in rows(db, "SELECT household_id, visited_at, outcome FROM visits"):
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
        assert db[table].count == count, table
    assert summary["households"] == 2000
    assert summary["grids"] == 3 and summary["cells"] == 15
    assert 9 <= summary["visits"] / summary["households"] <= 12


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
    leader1_grid = db.execute("SELECT grid_id FROM users WHERE username = 'leader1'").fetchone()[0]
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
    flags = Counter(visit["location_flag"] for visit in visits)
    assert flags["ok"] / len(visits) > 0.85 and min(flags.values()) > 0
    assert Counter(visit["outcome"] for visit in visits).most_common(1)[0][0] == "met"


def test_visits_name_residents_of_their_household_and_set_the_last_visit(db):
    residents = {row["id"]: row["household_id"] for row in rows(db, "SELECT id, household_id FROM residents")}
    for visit in rows(db, "SELECT household_id, outcome, residents_met FROM visits"):
        met = json.loads(visit["residents_met"])
        assert bool(met) == (visit["outcome"] == "met")
        assert all(residents[resident] == visit["household_id"] for resident in met)
    assert not rows(db, """
        SELECT h.id FROM households h LEFT JOIN (
          SELECT household_id, max(visited_at) AS visited_at, user_id FROM visits GROUP BY household_id) v
          ON v.household_id = h.id
        WHERE h.last_visit_at IS NOT v.visited_at OR h.last_visit_user_id IS NOT v.user_id""")


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
    users = rows(db, "SELECT display_name FROM users")
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", u["display_name"]) for u in users)


def test_tags_come_in_realistic_shares(db):
    shares = {row["code"]: row["n"] / 2000 for row in rows(db, """
        SELECT t.code, count(DISTINCT p.household_id) AS n FROM resident_tags rt
        JOIN tags t ON t.id = rt.tag_id JOIN residents p ON p.id = rt.resident_id GROUP BY t.code""")}
    assert 0.03 < shares["elderly_alone"] < 0.07 and 0.03 < shares["party_member"] < 0.09
    assert 0.003 < shares["left_behind_child"] < 0.02 and 0.01 < shares["low_income"] < 0.04
    alone = rows(db, """SELECT p.household_id, p.birth_year, (SELECT count(*) FROM residents q
                          WHERE q.household_id = p.household_id) AS people
                        FROM residents p JOIN resident_tags rt ON rt.resident_id = p.id
                        JOIN tags t ON t.id = rt.tag_id WHERE t.code = 'elderly_alone'""")
    assert all(row["people"] == 1 and row["birth_year"] < 1955 for row in alone)


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
    assert cell["geometry"] == json.loads(db.execute("SELECT geometry FROM cells ORDER BY id").fetchone()[0])


def small_demo(tmp_path, name, **options):
    """Build a small demo into its own database; return the database and its GeoJSON folder."""
    db = connect(str(tmp_path / f"{name}.db"), migrate=True)
    demo.build(db, households=300, geodata_dir=tmp_path / name, **{"today": TODAY, **options})
    return db, tmp_path / name


def content(db, folder):
    """Everything that must come out the same: the rows of the main tables and the GeoJSON bytes."""
    names = ("cells", "buildings", "households", "residents", "visits", "requests", "request_events")
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
