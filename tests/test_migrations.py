"""Schema versions: an empty database and an old one both end at the current schema, rows kept."""
import pytest

from fieldapp import create_app
from fieldapp.data import db as database
from fieldapp.data.migrations import migrations
from tests import engines, factories


def test_empty_database_gets_every_migration(engine):
    target = engine.create("empty")
    db = database.connect(target, migrate=True)
    assert database.pending_migrations(db) == []
    tables = set(db.table_names())
    for table in ["grids", "cells", "buildings", "households", "residents", "tags", "resident_tags",
                  "household_tags", "users", "assignments", "visits", "visit_amendments", "categories",
                  "requests", "request_events", "settings", "audit_log"]:
        assert table in tables
    if engines.POSTGRES:
        assert "data_changes" in tables  # the change counter every app server reads
    else:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert database.scalar(db, "SELECT count(*) FROM categories") == 9
    db.close()
    engine.drop(target)


def test_old_database_upgrades_at_start_without_loss(engine):
    path = engine.create("old")
    old = database.connect(path)
    migrations.apply(old, stop_before="0002_reference_data")
    assert database.pending_migrations(old)[0] == "0002_reference_data"
    cell_id = factories.make_cell(old)
    household_id = factories.make_household(old, cell_id, address="老库 1号")
    old.close()

    create_app({"DATABASE": path, "SECRET_KEY": "x"})

    db = database.connect(path)
    assert database.pending_migrations(db) == []
    assert database.one(db, "SELECT address FROM households WHERE id = ?", [household_id]) == {"address": "老库 1号"}
    assert database.scalar(db, "SELECT value FROM settings WHERE key = 'default_cycle_days'") == "30"
    db.close()
    engine.drop(path)


def test_init_db_command_reports_and_is_idempotent(runner, app):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert "0 migration(s) applied, schema up to date" in result.output


def test_indexes_for_the_hot_queries(db):
    def uses_index(sql, params):
        if engines.POSTGRES:  # a few rows: the planner would read the table; can it use an index at all?
            db.execute("SET enable_seqscan = off")
            plan = " ".join(row[0] for row in db.execute("EXPLAIN " + sql, params))
            return "Index" in plan
        plan = " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))
        return "USING INDEX" in plan or "USING COVERING INDEX" in plan

    assert uses_index("SELECT id FROM households WHERE cell_id = ?", [1])
    assert uses_index("SELECT id FROM visits WHERE household_id = ? ORDER BY visited_at DESC", [1])
    assert uses_index("SELECT id FROM requests WHERE status = 'open' AND due_date < ?", ["2026-01-01"])
    # a household's timeline: the requests raised and followed up in its visits
    assert uses_index("SELECT id FROM requests WHERE visit_id IN (?, ?)", [1, 2])
    assert uses_index("SELECT id FROM request_events WHERE visit_id IN (?, ?) AND kind != 'created'", [1, 2])


@pytest.mark.parametrize("table", ["visits", "request_events", "audit_log"])
def test_append_only_tables_refuse_updates_and_deletes(db, table):
    user_id = factories.make_user(db)
    cell_id = factories.make_cell(db)
    household_id = factories.make_household(db, cell_id)
    now = "2026-11-01T02:00:00Z"
    with database.write(db):
        visit_id = database.insert(db, "visits", {"uuid": "u-1", "household_id": household_id, "user_id": user_id,
                                        "visited_at": now, "received_at": now, "location_flag": "no_location",
                                        "outcome": "met"})
        request_id = database.insert(db, "requests", {"uuid": "r-1", "household_id": household_id, "category": "other",
                                            "description": "x", "due_date": "2026-11-10", "created_by": user_id,
                                            "created_at": now, "updated_at": now})
        database.insert(db, "request_events", {"request_id": request_id, "user_id": user_id, "at": now, "kind": "created"})
        database.insert(db, "audit_log", {"at": now, "user_id": user_id, "action": "test"})
    assert visit_id
    for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(database.DatabaseError, match="append-only"):
            with database.write(db):
                db.execute(statement)


def test_a_register_of_before_keeps_its_tags_visits_and_contacts(engine):
    """A database made before tags had days and visits had contacts: its tags hold on (those of residents who
    moved out end the day they left), its visits count as they were, and the new outcomes are accepted."""
    path = engine.create("before_register")
    old = database.connect(path)
    migrations.apply(old, stop_before="0011_register")
    cell_id = factories.make_cell(old)
    household_id = factories.make_household(old, cell_id)
    user_id = factories.make_user(old)
    stays = factories.make_resident(old, household_id, tags=("elderly_alone", "party_member"))
    left = factories.make_resident(old, household_id, tags=("disabled",), moved_out_at="2026-10-05T02:00:00Z")
    with database.write(old):
        for uuid, at, outcome in (("v1", "2026-11-01T02:00:00Z", "met"), ("v2", "2026-11-20T02:00:00Z", "nobody_home")):
            database.insert(old, "visits", {"uuid": uuid, "household_id": household_id, "user_id": user_id,
                                            "visited_at": at, "received_at": at, "location_flag": "ok",
                                            "outcome": outcome})
    old.close()

    db = database.connect(path, migrate=True)
    tags = database.rows(db, "SELECT rt.resident_id, t.code, rt.started_on, rt.ended_on FROM resident_tags rt "
                             "JOIN tags t ON t.id = rt.tag_id ORDER BY rt.resident_id, t.code")
    assert tags == [{"resident_id": stays, "code": "elderly_alone", "started_on": None, "ended_on": None},
                    {"resident_id": stays, "code": "party_member", "started_on": None, "ended_on": None},
                    {"resident_id": left, "code": "disabled", "started_on": None, "ended_on": "2026-10-05"}]
    assert database.one(db, "SELECT last_contact_at, last_met_at, last_attempt_at FROM households WHERE id = ?",
                        [household_id]) == {"last_contact_at": "2026-11-01T02:00:00Z",
                                            "last_met_at": "2026-11-01T02:00:00Z",
                                            "last_attempt_at": "2026-11-20T02:00:00Z"}
    with database.write(db):  # the widened outcome constraint, on a fresh connection's view of the schema too
        database.insert(db, "visits", {"uuid": "v3", "household_id": household_id, "user_id": user_id,
                                       "visited_at": "2026-11-21T02:00:00Z", "received_at": "2026-11-21T02:00:00Z",
                                       "location_flag": "ok", "outcome": "phone_call"})
    db.close()
    other = database.connect(path)
    with pytest.raises(database.IntegrityError):
        with database.write(other):
            database.insert(other, "visits", {"uuid": "v4", "household_id": household_id, "user_id": user_id,
                                              "visited_at": "2026-11-21T02:00:00Z", "received_at": "2026-11-21T02:00:00Z",
                                              "location_flag": "ok", "outcome": "waved"})
    with pytest.raises(database.DatabaseError):  # the register's records are append-only
        with database.write(other):
            database.insert(other, "register_changes", {
                "uuid": "c1", "household_id": household_id, "user_id": user_id, "made_at": "2026-11-21T02:00:00Z",
                "received_at": "2026-11-21T02:00:00Z", "kind": "household_vacant", "reason": "空置"})
            other.execute("DELETE FROM register_changes")
    if not engines.POSTGRES:
        assert other.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    other.close()
    engine.drop(path)


def test_a_request_can_belong_to_a_building_instead_of_a_household(db):
    """0017 loosens requests.household_id: a resident's report of a broken stair light belongs to the building."""
    building = factories.make_building(db, factories.make_cell(db))
    user = factories.make_user(db)
    request_id = database.insert(db, "requests", {
        "uuid": "a-building-request", "household_id": None, "building_id": building, "category": "other",
        "description": "楼道灯坏了", "status": "open", "due_date": "2026-12-09", "created_by": user,
        "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z", "channel": "resident"})
    assert database.one(db, "SELECT household_id, building_id, channel FROM requests WHERE id = ?", [request_id]) \
        == {"household_id": None, "building_id": building, "channel": "resident"}
    if db.dialect.name == "sqlite":
        assert database.scalar(db, "PRAGMA integrity_check") == "ok"
