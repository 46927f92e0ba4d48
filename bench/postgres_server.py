"""The PostgreSQL server of `make bench`: a throwaway cluster the bench starts itself, as durable as production.

Like the test run's cluster (tests/engines.py): initdb in a temporary folder, its own port of 127.0.0.1, run as
Debian's `postgres` user when we are root, removed at the end. Unlike it: on disk, with fsync, full-page writes
and synchronous_commit left on, since the bench measures durable writes; shared_buffers of 512 MB holds the
100,000-household demo (about 400 MB with its indexes) in PostgreSQL's own cache.
"""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import CACHE, ROOT, demo_version
from bench.server import free_port
from fieldapp.data import db as database
from fieldapp.data import postgres

INSTALL = "install Debian's postgresql package (apt-get install postgresql)"
SETTINGS = {"listen_addresses": "127.0.0.1", "max_connections": "200", "shared_buffers": "512MB",
            "max_wal_size": "2GB"}  # checkpoints by time, not forced by the restore of the demo


def server_binaries():
    """The folder of PostgreSQL's initdb, pg_ctl and pg_restore (the newest Debian version), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[4]))
    if found:
        return str(found[-1].parent)
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


class Cluster:
    """A durable PostgreSQL server of the bench's own, in a new temporary folder on disk."""

    def __init__(self):
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError(f"PostgreSQL's server binaries (initdb, pg_ctl) are missing: {INSTALL}.")
        self.folder = tempfile.mkdtemp(prefix="fieldapp-bench-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = free_port()
        self.run_as = None
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as Debian's postgres user
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(f"running as root and there is no postgres user to run the cluster as: {INSTALL}, "
                                   "which creates it.") from None
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.run_as = "postgres"
        self._run("initdb", "-D", self.data, "-U", "fieldapp", "-A", "trust", "--locale=C", "--encoding=UTF8")
        options = f"-p {self.port} -k {self.folder} " + " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.folder, "log"), "-w", "-t", "120",
                  "start")
        with open(os.path.join(self.data, "postmaster.pid")) as pid_file:
            self.pid = int(pid_file.readline())

    def _run(self, program, *args):
        command = [os.path.join(self.bin, program), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.folder)

    def url(self, name):
        return f"postgresql://fieldapp@127.0.0.1:{self.port}/{name}"

    def settings(self):
        """The settings that make the figures what they are, as the server reports them."""
        admin = postgres.connect(self.url("postgres"))
        try:
            return {name: admin.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("server_version", "fsync", "synchronous_commit", "full_page_writes",
                                 "shared_buffers", "wal_sync_method")}
        finally:
            admin.close()

    def cpu_seconds(self):
        """CPU seconds the server has used so far: the postmaster, the backends and helpers alive now, and those
        that have ended (the postmaster waits for its children, so theirs add to its children's times)."""
        import psutil

        master = psutil.Process(self.pid)
        times = master.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in master.children():
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:  # ended between the two reads: the postmaster's children's times have it
                pass
        return total

    def demo(self, households):
        """The URL of a database holding the demo of households (see demo_database)."""
        admin = postgres.connect(self.url("postgres"))
        admin.execute("CREATE DATABASE demo")
        admin.close()
        return demo_database(self.bin, self.url("demo"), households)

    def stop(self):
        """Stop the server and remove its folder."""
        postgres.close_pools()
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def demo_database(bin_dir, url, households):
    """Fill the empty database at url with the demo of households and return url: restored from the cached
    pg_dump of it, or built with `fieldapp demo` and dumped into the cache for the next run (about 2 minutes for
    100,000 households). bin_dir holds PostgreSQL's pg_dump and pg_restore."""
    dump = Path(os.environ.get("FIELDAPP_BENCH_PGDUMP", CACHE / f"demo-{households}-{demo_version()}.pgdump"))
    started, restored = time.perf_counter(), dump.exists()
    if restored:
        subprocess.run([os.path.join(bin_dir, "pg_restore"), "--no-owner", "--jobs", "2", "-d", url, str(dump)],
                       check=True)
    else:
        subprocess.run([sys.executable, "-m", "fieldapp", "demo", "--households", str(households)],
                       env={**os.environ, "FIELDAPP_DATABASE": url}, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        dump.parent.mkdir(parents=True, exist_ok=True)
        partial = dump.with_name(dump.name + ".partial")  # an interrupted dump is never taken for the cache
        subprocess.run([os.path.join(bin_dir, "pg_dump"), "-Fc", "-f", str(partial), url], check=True)
        partial.replace(dump)
    db = database.connect(url)
    db.execute("VACUUM ANALYZE")  # planner statistics and a visibility map, as a database in service has them
    db.close()
    print(f"{'restored' if restored else 'built'} the demo in PostgreSQL in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return url
