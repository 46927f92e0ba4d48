"""Backups through SQLite's online backup API, taken while visits are written, and restores that check first."""
import os
import shutil
import threading

import pytest

from click.testing import CliRunner

from fieldapp import __main__ as cli
from fieldapp import backup
from fieldapp.data import db as database
from tests import factories


@pytest.fixture
def live(app, db):
    """The app's database with a member's household; its path."""
    cell = factories.make_cell(db)
    member = factories.make_user(db, "member", "m1")
    factories.assign(db, cell, member)
    household = factories.make_household(db, cell)
    return {"path": app.config["DATABASE"], "member": member, "household": household}


def _visits(path):
    """uuid -> (household, outcome, notes) of every visit in the database at path."""
    db = database.connect(path)
    try:
        return {r["uuid"]: (r["household_id"], r["outcome"], r["notes"])
                for r in database.rows(db, "SELECT uuid, household_id, outcome, notes FROM visits")}
    finally:
        db.close()


def test_a_backup_taken_while_visits_are_written_is_a_consistent_snapshot(live, tmp_path):
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
        copies = [backup.backup(live["path"], str(tmp_path / f"copy{n}.db")) for n in range(3)]
        before_stop = len(written)
    finally:
        stop.set()
        thread.join()
    final = _visits(live["path"])
    counts = []
    for copy in copies:
        assert backup.check(copy["path"])["problems"] == []
        assert not os.path.exists(copy["path"] + "-wal")  # one self-contained file
        kept = _visits(copy["path"])
        assert kept.items() <= final.items()  # every visit in the copy is a visit of the live database, unchanged
        counts.append(len(kept))
    assert 20 <= counts[0] <= counts[1] <= counts[2] <= before_stop + 1


def test_a_backup_never_overwrites_and_a_folder_gets_a_dated_file(live, tmp_path):
    made = backup.backup(live["path"], str(tmp_path))
    assert os.path.basename(made["path"]).startswith("fieldapp-") and made["bytes"] > 0
    with pytest.raises(backup.BackupRefused, match="exists already"):
        backup.backup(live["path"], made["path"])


def test_backup_and_restore_commands_round_trip(live, runner, db, tmp_path):
    target = str(tmp_path / "nightly.db")
    made = runner.invoke(args=["backup", target])
    assert made.exit_code == 0 and "integrity checked" in made.output
    factories.make_visit(db, live["household"], live["member"])  # written after the backup
    db.close()  # the app is stopped for a restore
    restored = CliRunner().invoke(cli.main, ["restore", target], env={"FIELDAPP_DATABASE": live["path"]})
    assert restored.exit_code == 0, restored.output
    assert _visits(live["path"]) == {}
    kept = restored.output.split("kept at ")[1].strip().rstrip(".")
    assert len(_visits(kept)) == 1  # the replaced database is kept beside it


def _corrupt(path):
    with open(path, "r+b") as file:
        file.seek(4096 * 2)
        file.write(b"\xff" * 4096)


@pytest.mark.parametrize("spoil, reason", [
    (lambda path: open(path, "wb").write(b"not a database at all" * 100), "not a readable SQLite database"),
    (_corrupt, "malformed|integrity"),
    (lambda path: _add_migration(path, "0099_from_the_future"), "newer version"),
])
def test_restore_refuses_an_unsound_backup(live, tmp_path, spoil, reason):
    source = backup.backup(live["path"], str(tmp_path / "b.db"))["path"]
    spoil(source)
    with pytest.raises(backup.BackupRefused, match=reason):
        backup.restore(source, live["path"], force=True)


def _add_migration(path, name):
    db = database.connect(path)
    database.insert(db, "_sqlite_migrations", {"migration_set": "fieldapp", "name": name, "applied_at": "2030-01-01"},
                    returning=None)
    db.execute("PRAGMA journal_mode = DELETE")
    db.close()


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


def test_restoring_an_older_backup_upgrades_its_schema(live, db, tmp_path):
    source = str(tmp_path / "old.db")
    backup.backup(live["path"], source)
    old = database.connect(source)
    old.execute("DELETE FROM _sqlite_migrations WHERE name = '0007_security'")
    old.execute("DROP TABLE login_attempts")
    old.execute("DROP INDEX audit_log_user")
    old.execute("DROP INDEX audit_log_action")
    old.execute("PRAGMA journal_mode = DELETE")
    old.close()
    db.close()
    assert backup.restore(source, live["path"])["applied"] == 1
    restored = database.connect(live["path"])
    assert restored["login_attempts"].exists()
    restored.close()


def test_restore_into_a_new_place_needs_no_previous_database(live, tmp_path):
    source = backup.backup(live["path"], str(tmp_path / "b.db"))["path"]
    target = str(tmp_path / "fresh" / "fieldapp.db")
    os.makedirs(os.path.dirname(target))
    assert backup.restore(source, target) == {"kept": None, "applied": 0}
    assert _visits(target) == {}
    shutil.rmtree(os.path.dirname(target))


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
