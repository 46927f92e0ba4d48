"""Schema versions: an empty database and an old one both end at the current schema, rows kept."""
import pytest

from fieldapp import create_app
from fieldapp.data import db as database
from fieldapp.data.migrations import migrations
from tests import factories


def test_empty_database_gets_every_migration(tmp_path):
    db = database.connect(str(tmp_path / "new.db"), migrate=True)
    assert database.pending_migrations(db) == []
    tables = set(db.table_names())
    for table in ["grids", "cells", "buildings", "households", "residents", "tags", "resident_tags",
                  "household_tags", "users", "assignments", "visits", "visit_amendments", "categories",
                  "requests", "request_events", "settings", "audit_log"]:
        assert table in tables
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert database.scalar(db, "SELECT count(*) FROM categories") == 9


def test_old_database_upgrades_at_start_without_loss(tmp_path):
    path = str(tmp_path / "old.db")
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


def test_init_db_command_reports_and_is_idempotent(runner, app):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert "0 migration(s) applied, schema up to date" in result.output


def test_indexes_for_the_hot_queries(db):
    def uses_index(sql, params):
        if db.dialect.name == "postgresql":
            # On a table of a few rows the planner reads it whole: forbid that to see whether an index serves.
            db.execute("SET enable_seqscan = off")
            plan = " ".join(row[0] for row in db.execute("EXPLAIN " + sql, params))
            return "Index Scan" in plan or "Index Only Scan" in plan
        plan = " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))
        return "USING INDEX" in plan or "USING COVERING INDEX" in plan

    assert uses_index("SELECT id FROM households WHERE cell_id = ?", [1])
    assert uses_index("SELECT id FROM visits WHERE household_id = ? ORDER BY visited_at DESC", [1])
    assert uses_index("SELECT id FROM requests WHERE status = 'open' AND due_date < ?", ["2026-01-01"])


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
