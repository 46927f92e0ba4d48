"""A throwaway PostgreSQL server: initdb in a folder of its own, its own port of 127.0.0.1, removed at the end.

The test run's (tests/engines.py) lives in memory with fsync off; the crash bench's (bench/crash_bench.py) lives
on disk with fsync on, since what it measures is what survives a crash. Neither reads the environment.
"""
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

from fieldapp.data import postgres

INSTALL = "install Debian's postgresql package (apt-get install postgresql)"


def server_binaries():
    """The folder of PostgreSQL's initdb and pg_ctl (the newest Debian version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def free_port():
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A PostgreSQL server of its own in folder (None: a new temporary folder on disk).

    durable=False: fsync and full-page writes off, for tests (a crashed test server is thrown away anyway);
    durable=True: PostgreSQL's defaults, every commit on disk before it is answered.
    """

    def __init__(self, folder=None, *, durable=False):
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError(f"PostgreSQL's server binaries (initdb, pg_ctl) are missing: {INSTALL}.")
        self.folder = folder or tempfile.mkdtemp(prefix="fieldapp-pg-")
        self.data = os.path.join(self.folder, "data")
        self.log = os.path.join(self.folder, "log")
        self.port = free_port()
        self.durable = durable
        self.run_as = None
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as Debian's postgres user
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no postgres user to run the cluster as: "
                                   f"{INSTALL}, which creates it.") from None
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.run_as = "postgres"
        self._run("initdb", "-D", self.data, "-U", "fieldapp", "-A", "trust", "--locale=C", "--encoding=UTF8",
                  *([] if durable else ["--no-sync"]))
        self.admin = None
        self.start()
        self._names = itertools.count(1)

    def _run(self, program, *args):
        command = [os.path.join(self.bin, program), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.folder)

    def start(self):
        """Start the server (again) and wait until it takes connections; recovery after a crash included."""
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                   "-c shared_buffers=64MB")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "-t", "120", "start")
        self.admin = postgres.connect(self.url("postgres"))

    def crash(self):
        """Stop the server the way a power cut would: no checkpoint, every backend gone at once (the next start
        replays the write-ahead log)."""
        self.admin.close()
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

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
        """Stop the server and remove its folder."""
        self.admin.close()
        postgres.close_pools()
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
