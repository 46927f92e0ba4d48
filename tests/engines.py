"""The engine a test run uses: SQLite files (the default) or, with FIELDAPP_TEST_ENGINE=postgresql, a throwaway
PostgreSQL cluster that the run creates in a temporary folder on its own port and removes afterwards.

Either way a test gets a fresh database cloned from one migrated template: a copied file on SQLite, a
`CREATE DATABASE ... TEMPLATE` on PostgreSQL.
"""
import os
import shutil
import tempfile

from fieldapp.data import db as database
from tests import pg_cluster
from tests.pg_cluster import INSTALL, server_binaries  # noqa: F401 - part of this module's interface

ENGINE = os.environ.get("FIELDAPP_TEST_ENGINE", "sqlite").strip().lower() or "sqlite"
if ENGINE not in ("sqlite", "postgresql"):
    raise SystemExit(f"FIELDAPP_TEST_ENGINE is {ENGINE!r}: use sqlite or postgresql")
POSTGRES = ENGINE == "postgresql"


def scratch_dir(prefix="fieldapp-test-"):
    """A new folder in memory-backed /dev/shm where there is one (fsync is free there)."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return tempfile.mkdtemp(prefix=prefix, dir="/dev/shm")
    return tempfile.mkdtemp(prefix=prefix)


class Cluster(pg_cluster.Cluster):
    """A PostgreSQL server of the test run's own: initdb in a temporary folder, its own port, fsync off."""

    def __init__(self):
        super().__init__(scratch_dir("fieldapp-pg-"), durable=False)


class Files:
    """SQLite files in memory-backed folders."""

    def __init__(self):
        self.folder = scratch_dir()

    def create(self, name, template=None):
        """A new database file called name (a copy of the file template if given), in a folder of its own."""
        path = os.path.join(tempfile.mkdtemp(dir=self.folder), f"{name}.db")
        if template:
            shutil.copy(template, path)
        return path

    def fresh(self, template):
        return self.create("test", template)

    def drop(self, path):
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)

    def stop(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def start():
    """The run's databases: a PostgreSQL cluster or a folder of SQLite files."""
    return Cluster() if POSTGRES else Files()


def template(engine, name, build=None):
    """A migrated database called name (built further by build(db) if given), closed and ready to be cloned by
    engine.fresh: its URL, or its file's path."""
    target = engine.create(name)
    db = database.connect(target, migrate=True)
    if build:
        build(db)
    if not POSTGRES:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return target
