"""Continuous replication: the app's connections leave checkpoints to Litestream, and litestream.yml replicates
the app's database to a folder that `litestream restore` rebuilds it from."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fieldapp.data import db as database

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "litestream.yml"


def _litestream():
    """The litestream binary of the `replicate` extra (next to this Python, or on PATH), or None."""
    beside = Path(sys.executable).with_name("litestream")
    return str(beside) if beside.exists() else shutil.which("litestream")


if _litestream() is None and os.environ.get("CI"):
    raise RuntimeError("Litestream is missing in CI: `make test` installs it with the test extra")
needs_litestream = pytest.mark.skipif(
    _litestream() is None,
    reason="Litestream is not installed: it comes with the test and replicate extras (pip install -e '.[test]')")


def _autocheckpoint(path):
    """The WAL auto-checkpoint threshold of a connection the app opens on path (0: never)."""
    db = database.connect(path)
    try:
        return database.scalar(db, "PRAGMA wal_autocheckpoint")
    finally:
        db.close()


def test_under_replication_the_app_never_checkpoints_the_wal(tmp_path, monkeypatch):
    path = str(tmp_path / "app.db")
    monkeypatch.setenv("FIELDAPP_REPLICATED", "1")
    assert _autocheckpoint(path) == 0


@pytest.mark.parametrize("value", [None, "0", ""])
def test_without_replication_sqlite_checkpoints_as_usual(tmp_path, monkeypatch, value):
    path = str(tmp_path / "app.db")
    if value is None:
        monkeypatch.delenv("FIELDAPP_REPLICATED", raising=False)
    else:
        monkeypatch.setenv("FIELDAPP_REPLICATED", value)
    assert _autocheckpoint(path) == 1000


def _run(command, *args, env):
    """Run a litestream command with the repository's litestream.yml and args; its standard output."""
    done = subprocess.run([_litestream(), command, "-config", str(CONFIG), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@pytest.fixture
def replicated(tmp_path):
    """The environment `make replicate` gives Litestream: the database and the replica folder."""
    return {**os.environ, "FIELDAPP_DATABASE": str(tmp_path / "fieldapp.db"),
            "FIELDAPP_REPLICA": str(tmp_path / "replica"), "FIELDAPP_REPLICATED": "1"}


@needs_litestream
def test_litestream_yml_replicates_the_apps_database_to_a_folder(replicated):
    listed = json.loads(_run("databases", "-json", env=replicated))
    assert listed == [{"path": replicated["FIELDAPP_DATABASE"], "replica": "file"}]


@needs_litestream
def test_a_lost_database_comes_back_from_the_replica(replicated, monkeypatch):
    path = replicated["FIELDAPP_DATABASE"]
    monkeypatch.setenv("FIELDAPP_REPLICATED", "1")
    db = database.connect(path)
    with database.write(db):
        db.execute("CREATE TABLE visits (uuid TEXT PRIMARY KEY, notes TEXT)")
        db.execute("INSERT INTO visits VALUES ('v-1', 'met at the door')")
    _run("replicate", "-once", env=replicated)
    with database.write(db):
        db.execute("INSERT INTO visits VALUES ('v-2', 'came back later')")
    _run("replicate", "-once", env=replicated)
    db.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    shutil.rmtree(os.path.join(os.path.dirname(path), ".fieldapp.db-litestream"))

    _run("restore", path, env=replicated)

    restored = database.connect(path)
    try:
        assert database.rows(restored, "SELECT uuid, notes FROM visits ORDER BY uuid") == [
            {"uuid": "v-1", "notes": "met at the door"}, {"uuid": "v-2", "notes": "came back later"}]
        assert database.scalar(restored, "PRAGMA integrity_check") == "ok"
    finally:
        restored.close()
