"""Backups taken while visits are written (SQLite's online backup API, PostgreSQL's pg_dump), and restores that
check first."""
import os
import shutil
import stat
import threading
import uuid

import pytest

from click.testing import CliRunner

from fieldapp import __main__ as cli
from fieldapp import backup
from fieldapp.data import db as database
from fieldapp.data import pg_backup
from fieldapp.data.migrations import migrations
from tests import engines, factories

postgres_only = pytest.mark.skipif(not engines.POSTGRES,
                                   reason="PostgreSQL only: run with FIELDAPP_TEST_ENGINE=postgresql")
sqlite_only = pytest.mark.skipif(engines.POSTGRES, reason="SQLite only: a database file, its lock and its pages")


@pytest.fixture
def live(app, db):
    """The app's database with a member's household; its path (or URL)."""
    cell = factories.make_cell(db)
    member = factories.make_user(db, "member", "m1")
    factories.assign(db, cell, member)
    household = factories.make_household(db, cell)
    return {"path": app.config["DATABASE"], "member": member, "household": household}


@pytest.fixture
def spare(engine, migrated_template):
    """More databases of the test's own (migrated), made on demand and dropped at its end."""
    made = []

    def new():
        made.append(engine.fresh(migrated_template))
        return made[-1]

    yield new
    for target in made:
        engine.drop(target)


def _visits(target):
    """uuid -> (household, outcome, notes) of every visit in the database target."""
    db = database.connect(target)
    try:
        return {r["uuid"]: (r["household_id"], r["outcome"], r["notes"])
                for r in database.rows(db, "SELECT uuid, household_id, outcome, notes FROM visits")}
    finally:
        db.close()


def _visits_in_backup(path, spare):
    """The visits the backup file at path holds: read from the file itself (SQLite), or from a database the dump
    is restored into (PostgreSQL)."""
    if not engines.POSTGRES:
        return _visits(path)
    target = spare()
    backup.restore(path, target)
    return _visits(target)


def _empty_database(engine, tmp_path):
    """Where a database can be restored that holds nothing yet: a new file, or a new PostgreSQL database."""
    if not engines.POSTGRES:
        return str(tmp_path / "fresh" / "fieldapp.db")
    return engine.create(f"empty_{uuid.uuid4().hex[:12]}")


def test_a_backup_taken_while_visits_are_written_is_a_consistent_snapshot(live, tmp_path, spare):
    stop = threading.Event()
    written = []

    def write_visits():
        writer = database.connect(live["path"])
        while not stop.is_set():
            written.append(factories.make_visit(writer, live["household"], live["member"]))
        writer.close()

    thread = threading.Thread(target=write_visits)
    thread.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        copies = [backup.backup(live["path"], str(tmp_path / f"copy{n}")) for n in range(3)]
        before_stop = len(written)
    finally:
        stop.set()
        thread.join()
    final = _visits(live["path"])
    counts = []
    for copy in copies:
        assert backup.check(copy["path"], target=live["path"])["problems"] == []
        if not engines.POSTGRES:
            assert not os.path.exists(copy["path"] + "-wal")  # one self-contained file
        kept = _visits_in_backup(copy["path"], spare)
        assert kept.items() <= final.items()  # every visit in the copy is a visit of the live database, unchanged
        counts.append(len(kept))
    assert 20 <= counts[0] <= counts[1] <= counts[2] <= before_stop + 1


def test_a_backup_never_overwrites_and_a_folder_gets_a_dated_file(live, tmp_path):
    made = backup.backup(live["path"], str(tmp_path))
    name = os.path.basename(made["path"])
    assert name.startswith("fieldapp-") and name.endswith(".dump" if engines.POSTGRES else ".db")
    assert made["bytes"] > 0 and os.listdir(tmp_path) == [name]  # no .partial left behind
    with pytest.raises(backup.BackupRefused, match="exists already"):
        backup.backup(live["path"], made["path"])


def test_backup_and_restore_commands_round_trip(live, runner, db, tmp_path, spare):
    target = str(tmp_path / "nightly.db")
    made = runner.invoke(args=["backup", target])
    assert made.exit_code == 0 and ("read back whole" if engines.POSTGRES else "integrity checked") in made.output
    factories.make_visit(db, live["household"], live["member"])  # written after the backup
    db.close()  # the app is stopped for a restore
    restored = CliRunner().invoke(cli.main, ["restore", target], env={"FIELDAPP_DATABASE": live["path"]})
    assert restored.exit_code == 0, restored.output
    assert _visits(live["path"]) == {}
    kept = restored.output.split("kept at ")[1].strip().rstrip(".")
    assert len(_visits_in_backup(kept, spare)) == 1  # the replaced database is kept


def _corrupt(path):
    """Overwrite part of the file: a page of a SQLite database, or some of a dump's table data (compressed: its zlib
    streams begin 78 9c, after the table of contents, which pg_restore --list reads)."""
    with open(path, "r+b") as file:
        if engines.POSTGRES:
            data = file.read()
            start = data.index(b"\x78\x9c")
            file.seek((start + len(data)) // 2)
            file.write(b"\xff" * 64)
        else:
            file.seek(4096 * 2)
            file.write(b"\xff" * 4096)


def _add_migration(target, name):
    db = database.connect(target)
    with database.write(db):
        database.insert(db, migrations.tables[db.dialect.name],
                        {"migration_set": "fieldapp", "name": name, "applied_at": "2030-01-01"}, returning=None)
    db.close()


def _foreign(target):
    """Make the database target one of another app: its own table, no schema versions."""
    backup.remove(target)
    db = database.connect(target)
    with database.write(db):
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('not ours')")
    db.close()


UNREADABLE = "not a readable PostgreSQL dump" if engines.POSTGRES else "not a readable SQLite database"


@pytest.mark.parametrize("kind, reason", [
    ("garbage", UNREADABLE),
    ("damaged", "is damaged" if engines.POSTGRES else "malformed|integrity"),
    ("newer", "newer version"),
    ("foreign", "not a Zero Distance " + ("dump" if engines.POSTGRES else "database")),
])
def test_restore_refuses_an_unsound_backup(live, tmp_path, spare, kind, reason):
    source = live["path"]
    if kind == "newer":
        _add_migration(source, "0099_from_the_future")
    if kind == "foreign":
        source = spare()
        _foreign(source)
    path = backup.backup(source, str(tmp_path / "b"), checked=False)["path"]
    if kind == "garbage":
        with open(path, "wb") as spoilt:
            spoilt.write(b"not a database at all" * 100)
    if kind == "damaged":
        _corrupt(path)
    with pytest.raises(backup.BackupRefused, match=reason):
        backup.restore(path, live["path"], force=True)


def test_restore_refuses_a_backup_of_the_other_engine(live, tmp_path):
    other = "SQLite" if engines.POSTGRES else "PostgreSQL"
    path = str(tmp_path / "other")
    with open(path, "wb") as file:
        file.write((backup.sqlite_side if engines.POSTGRES else pg_backup).MAGIC + b"\x00" * 4096)
    with pytest.raises(backup.BackupRefused, match=f"is a {other} .*restore it into a {other} database"):
        backup.restore(path, live["path"], force=True)


@sqlite_only
def test_restore_refuses_a_database_a_server_is_running_on(live, db, tmp_path):
    source = backup.backup(live["path"], str(tmp_path / "b.db"))["path"]
    db.close()
    lock = backup.hold_server_lock(live["path"])  # as gunicorn.conf.py does while serving
    try:
        with pytest.raises(backup.BackupRefused, match="a server is running on it"):
            backup.restore(source, live["path"])
        assert backup.restore(source, live["path"], force=True)["kept"]
    finally:
        os.close(lock)
    assert backup.in_use(live["path"]) is None


@postgres_only
def test_restore_refuses_a_database_other_sessions_are_connected_to(live, db, tmp_path):
    source = backup.backup(live["path"], str(tmp_path / "b.dump"))["path"]
    factories.make_visit(db, live["household"], live["member"])
    assert backup.hold_server_lock(live["path"]) is None  # gunicorn.conf.py's lock: nothing to hold
    with pytest.raises(backup.BackupRefused, match=r"in use: 1 other connection\(s\) are open to it"):
        backup.restore(source, live["path"])  # the db fixture's session is one
    assert len(_visits(live["path"])) == 1
    assert backup.restore(source, live["path"], force=True)["kept"]
    assert _visits(live["path"]) == {}
    db.close()
    assert backup.in_use(live["path"]) is None


def test_restoring_an_older_backup_upgrades_its_schema(live, db, tmp_path, spare):
    older = spare()
    old = database.connect(older)
    with database.write(old):
        old.execute(f"DELETE FROM {migrations.tables[old.dialect.name]} WHERE name = '0007_security'")
        old.execute("DROP TABLE login_attempts")
        old.execute("DROP INDEX audit_log_user")
        old.execute("DROP INDEX audit_log_action")
    old.close()
    source = backup.backup(older, str(tmp_path / "old"))["path"]
    db.close()
    # The database restored over has the current schema: its newer tables go with it, and come back upgraded.
    assert backup.restore(source, live["path"])["applied"] == 1
    restored = database.connect(live["path"])
    assert "login_attempts" in restored.table_names() and database.pending_migrations(restored) == []
    restored.close()


def test_restore_into_a_new_place_needs_no_previous_database(live, engine, tmp_path):
    source = backup.backup(live["path"], str(tmp_path / "b"))["path"]
    target = _empty_database(engine, tmp_path)
    if not engines.POSTGRES:
        os.makedirs(os.path.dirname(target))
    try:
        assert backup.restore(source, target) == {"kept": None, "applied": 0, "photos": None}
        assert _visits(target) == {}
    finally:
        if engines.POSTGRES:
            engine.drop(target)
        else:
            shutil.rmtree(os.path.dirname(target))


@sqlite_only
def test_restore_replaces_a_database_too_damaged_to_open(live, db, tmp_path):
    source = backup.backup(live["path"], str(tmp_path / "b.db"))["path"]
    db.close()
    with open(live["path"], "wb") as damaged:
        damaged.write(b"\x00garbage" * 5000)
    restored = CliRunner().invoke(cli.main, ["restore", source], env={"FIELDAPP_DATABASE": live["path"]})
    assert restored.exit_code == 0, restored.output
    assert _visits(live["path"]) == {} and backup.check(live["path"])["problems"] == []
    kept = restored.output.split("kept at ")[1].strip().rstrip(".")
    assert open(kept, "rb").read(8) == b"\x00garbage"


@postgres_only
def test_a_failed_pg_restore_leaves_the_database_as_it_was(live, db, tmp_path, spare, engine):
    role = f"reader_{uuid.uuid4().hex[:8]}"
    other = spare()
    source_db = database.connect(other)
    source_db.execute(f"CREATE ROLE {role}")
    source_db.execute(f"GRANT SELECT ON households TO {role}")
    source = backup.backup(other, str(tmp_path / "granted.dump"))["path"]
    source_db.execute(f"DROP OWNED BY {role}")
    source_db.execute(f"DROP ROLE {role}")  # the dump grants to a role this server no longer has
    source_db.close()
    factories.make_visit(db, live["household"], live["member"])
    db.close()
    with pytest.raises(backup.BackupRefused, match=f'the database is as it was: .*role "{role}" does not exist'):
        backup.restore(source, live["path"])
    assert len(_visits(live["path"])) == 1
    check = database.connect(live["path"])
    schemas = database.rows(check, "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                                   "AND nspname <> 'information_schema'")
    assert schemas == [{"nspname": "public"}] and database.pending_migrations(check) == []
    check.close()


@postgres_only
def test_a_pg_dump_that_cannot_reach_its_server_leaves_no_file(tmp_path):
    with pytest.raises(backup.BackupRefused) as refused:
        backup.backup("postgresql://fieldapp:secret@127.0.0.1:1/fieldapp", str(tmp_path))
    message = str(refused.value)
    assert message.startswith("pg_dump could not back up PostgreSQL at 127.0.0.1:1/fieldapp: ")
    assert "Connection refused" in message and "\n" not in message and "secret" not in message
    assert os.listdir(tmp_path) == []


def _program(folder, name):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "w") as script:
        script.write("#!/bin/sh\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def test_pg_dump_comes_from_path_else_from_the_newest_debian_version(tmp_path, monkeypatch):
    monkeypatch.setattr(pg_backup, "DEBIAN_BINARIES", str(tmp_path / "lib" / "*" / "bin"))
    for version in ("9", "15", "13"):
        _program(tmp_path / "lib" / version / "bin", "pg_dump")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert pg_backup.tool("pg_dump") == str(tmp_path / "lib" / "15" / "bin" / "pg_dump")
    on_path = _program(tmp_path / "bin", "pg_dump")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert pg_backup.tool("pg_dump") == on_path


def test_without_pg_dump_the_refusal_names_debians_package(tmp_path, monkeypatch):
    monkeypatch.setattr(pg_backup, "DEBIAN_BINARIES", str(tmp_path / "none" / "*" / "bin"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(backup.BackupRefused, match=r"^pg_restore is not installed: .*postgresql-client"):
        pg_backup.tool("pg_restore")


def test_the_password_reaches_pg_dump_in_its_environment_not_its_command_line():
    url, env = pg_backup.libpq_arguments("postgresql://app:p%40ss:w@db.example:6432/fieldapp?sslmode=require")
    assert url == "postgresql://app@db.example:6432/fieldapp?sslmode=require"
    assert env["PGPASSWORD"] == "p@ss:w"
    url, env = pg_backup.libpq_arguments("postgresql://app@db.example/fieldapp")
    assert url == "postgresql://app@db.example/fieldapp" and env.get("PGPASSWORD") == os.environ.get("PGPASSWORD")
