"""The engine a test run uses: SQLite files (the default) or, with FIELDAPP_TEST_ENGINE=postgresql, a throwaway
PostgreSQL cluster that the run creates in a temporary folder on its own port and removes afterwards.

Either way a test gets a fresh database cloned from one migrated template: a copied file on SQLite, a
`CREATE DATABASE ... TEMPLATE` on PostgreSQL.
"""
import itertools
import os
import queue
import shutil
import tempfile
import threading

from fieldapp.data import db as database
from fieldapp.data import postgres
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
    """A PostgreSQL server of the test run's own: initdb in a temporary folder, its own port, fsync off.

    A clone takes the server about 0.1 s and a drop a few hundredths: a thread of its own makes each template's
    next clone while a test runs and drops the databases of finished tests, so that tests do not wait for them.
    """

    def __init__(self):
        super().__init__(scratch_dir("fieldapp-pg-"), durable=False)
        self._jobs = queue.Queue()
        self._ready = {}  # template name -> queue of clones' URLs made ahead
        self._clones = itertools.count(1)
        self._worker = threading.Thread(target=self._work, args=(postgres.connect(self.url("postgres")),),
                                        name="clones", daemon=True)
        self._worker.start()

    def _work(self, admin):
        """Make and drop databases as asked, until asked to stop (None)."""
        while (job := self._jobs.get()) is not None:
            kind, name, ready = job
            try:
                if kind == "clone":
                    clone = f"t{next(self._clones)}"
                    admin.execute(f"CREATE DATABASE {clone} TEMPLATE {name} STRATEGY FILE_COPY")
                    ready.put(self.url(clone))
                else:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except Exception as error:  # handed to the test waiting for the clone, or lost with a drop
                if ready is not None:
                    ready.put(error)
        admin.close()

    def fresh(self, template):
        """A new database cloned from the database at the URL template (made ahead while the last test ran)."""
        name = template.rsplit("/", 1)[1]
        ready = self._ready.get(name)
        if ready is None:
            ready = self._ready[name] = queue.Queue()
            self._jobs.put(("clone", name, ready))
        made = ready.get()
        if isinstance(made, Exception):
            raise made
        self._jobs.put(("clone", name, ready))  # the next test's, made while this one runs
        return made

    def drop(self, url):
        """Forget the database at url: the app's pools close now, the database goes in the background."""
        postgres.close_pools()
        self._jobs.put(("drop", url.rsplit("/", 1)[1], None))

    def stop(self):
        self._jobs.put(None)
        self._worker.join(timeout=60)
        super().stop()


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


def closed(target):
    """Make the database at target, which the app has served, ready to be cloned by engine.fresh: on PostgreSQL
    no connection of the app's pools stays open (a template may have none), on SQLite the write-ahead log is
    folded into the file that the clone copies."""
    if POSTGRES:
        postgres.close_pools()
    else:
        db = database.connect(target)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
