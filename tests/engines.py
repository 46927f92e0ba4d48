"""The engine a test run uses: SQLite files (the default) or, with FIELDAPP_TEST_ENGINE=postgresql, a throwaway
PostgreSQL cluster that the run creates in a temporary folder on its own port and removes afterwards.

Either way a test gets a fresh database cloned from one migrated template: a copied file on SQLite, a
`CREATE DATABASE ... TEMPLATE` on PostgreSQL.
"""
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

from fieldapp.data import db as database
from fieldapp.data import postgres

ENGINE = os.environ.get("FIELDAPP_TEST_ENGINE", "sqlite").strip().lower() or "sqlite"
if ENGINE not in ("sqlite", "postgresql"):
    raise SystemExit(f"FIELDAPP_TEST_ENGINE is {ENGINE!r}: use sqlite or postgresql")
POSTGRES = ENGINE == "postgresql"
INSTALL = "install Debian's postgresql package (apt-get install postgresql)"


def scratch_dir(prefix="fieldapp-test-"):
    """A new folder in memory-backed /dev/shm where there is one (fsync is free there)."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return tempfile.mkdtemp(prefix=prefix, dir="/dev/shm")
    return tempfile.mkdtemp(prefix=prefix)


def server_binaries():
    """The folder of PostgreSQL's initdb and pg_ctl (the newest Debian version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A PostgreSQL server of the test run's own: initdb in a temporary folder, its own port, fsync off."""

    def __init__(self):
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError(f"PostgreSQL's server binaries (initdb, pg_ctl) are missing: {INSTALL}.")
        self.folder = scratch_dir("fieldapp-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = _free_port()
        self.run_as = None
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as Debian's postgres user
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no postgres user to run the test cluster as: "
                                   f"{INSTALL}, which creates it.") from None
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.run_as = "postgres"
        self._run("initdb", "-D", self.data, "-U", "fieldapp", "-A", "trust", "--locale=C", "--encoding=UTF8",
                  "--no-sync")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.folder, "log"), "-w", "start")
        self.admin = postgres.connect(self.url("postgres"))
        self._names = itertools.count(1)

    def _run(self, program, *args):
        command = [os.path.join(self.bin, program), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.folder)

    def url(self, name):
        return f"postgresql://fieldapp@127.0.0.1:{self.port}/{name}"

    def create(self, name, template=None):
        """A new database name (a clone of template if given); returns its URL."""
        source = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self.admin.execute(f"CREATE DATABASE {name}{source}")
        return self.url(name)

    def fresh(self, template):
        """A new database cloned from the database at the URL template, with a name of its own."""
        return self.create(f"t{next(self._names)}", template.rsplit("/", 1)[1])

    def drop(self, url):
        postgres.close_pools()
        self.admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self):
        self.admin.close()
        postgres.close_pools()
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


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
