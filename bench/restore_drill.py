"""Restore drill: the crash bench's phones send visits to the app running under Litestream (litestream.yml, a
file replica); then the machine "is lost" — Litestream, gunicorn and its workers SIGKILLed at once while the
phones are sending, the database, its -wal and -shm and Litestream's local state deleted — and the database is
restored from the replica into the same path. The drill counts the acknowledged visits that did not come back
(the recovery point) and the duplicates, then starts the app on the restored database again.

    .venv/bin/python bench/restore_drill.py [--clients 20] [--duration 30] [--households 2000]

Ends with: acknowledged=N restored=N missing=N duplicated=N sync_interval=1s replica=file
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.crash_bench import Phone, Stats, _in_threads, accounts_of, check_database  # noqa: E402
from bench.server import Server  # noqa: E402
from fieldapp.data import db as database  # noqa: E402

CONFIG = ROOT / "litestream.yml"


def litestream_binary():
    """Path of the litestream binary: the one the `replicate` extra puts next to this Python, or on PATH."""
    beside = Path(sys.executable).with_name("litestream")
    if beside.exists():
        return str(beside)
    found = shutil.which("litestream")
    if found is None:
        raise SystemExit("litestream is not installed: pip install -e '.[replicate]' (or make restore-drill)")
    return found


def sync_interval(config_text):
    """The replica's sync-interval as litestream.yml sets it (Litestream's default, 1s, when it does not)."""
    for line in config_text.splitlines():
        found = re.match(r"\s*sync-interval:\s*(\S+)", line)
        if found:
            return found.group(1)
    return "1s"


def seconds(duration):
    """Seconds in a Go duration such as 1s, 500ms or 1m."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"([\d.]+)(ms|s|m|h)", duration))


class MachineLost(Exception):
    """The server's machine is gone: the phone stops sending."""


class ReplicatedServer(Server):
    """The app as `make replicate` runs it: gunicorn under `litestream replicate -exec`, in one process group,
    so that a SIGKILL of the group takes Litestream, gunicorn and its workers at once."""

    def __init__(self, db_path, replica, *, litestream, app_checkpoints=False, **kwargs):
        env = {"FIELDAPP_REPLICA": replica, "FIELDAPP_REPLICATED": "0" if app_checkpoints else "1"}
        super().__init__(db_path, env=env, **kwargs)
        self.litestream = litestream

    def command(self):
        """litestream replicate with gunicorn's own command line as its -exec."""
        return [self.litestream, "replicate", "-config", str(CONFIG), "-exec", shlex.join(super().command())]

    def restore(self):
        """Restore the database into its own path from the replica; seconds taken."""
        started = time.monotonic()
        subprocess.run([self.litestream, "restore", "-config", str(CONFIG), self.env["FIELDAPP_DATABASE"]],
                       env=self.env, check=True, stdout=self.log, stderr=self.log)
        return time.monotonic() - started


class DrillStats(Stats):
    """The crash bench's figures, and when each visit was first acknowledged."""

    def __init__(self):
        super().__init__()
        self.acked_at = {}

    def acknowledged(self, visit_uuid):
        """Note the visit as acknowledged, with the moment of its first acknowledgement."""
        with self.lock:
            self.acked_uuids.add(visit_uuid)
            self.acked_at.setdefault(visit_uuid, time.monotonic())


class DrillPhone(Phone):
    """A crash bench phone that stops for good once the machine is lost."""

    def __init__(self, *args, lost, **kwargs):
        super().__init__(*args, **kwargs)
        self.lost = lost

    def request(self, path, data=None, headers=None):
        """As the crash bench's phone; MachineLost once the server's machine is gone."""
        if self.lost.is_set():
            raise MachineLost
        return super().request(path, data, headers)

    def run(self, stop_at):
        """Send visits until the machine is lost (an unexpected error is counted, not hidden)."""
        self.stop_at = stop_at
        try:
            self.work()
        except MachineLost:
            pass
        except Exception as error:  # noqa: BLE001 - reported in the figures
            self.stats.count(f"client_error {type(error).__name__}: {error}")


def wait_for_replica(replica, timeout=60):
    """Wait until Litestream has written its first snapshot to the replica folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(name.endswith(".ltx") for _, _, names in os.walk(replica) for name in names):
            return
        time.sleep(0.2)
    raise RuntimeError(f"no snapshot in {replica} after {timeout} s")


def newest_file(folder):
    """The modification time (epoch seconds) of the newest file under folder."""
    return max(os.path.getmtime(os.path.join(top, name)) for top, _, names in os.walk(folder) for name in names)


def lose_machine(db_path):
    """Delete what the lost machine held: the database, its -wal and -shm, and Litestream's local state."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_path + suffix):
            os.remove(db_path + suffix)
    folder, name = os.path.split(db_path)
    shutil.rmtree(os.path.join(folder, f".{name}-litestream"), ignore_errors=True)


def present(db_path, uuids):
    """Which of the uuids the visits table at db_path holds."""
    db = database.connect(db_path)
    try:
        db.execute("CREATE TEMP TABLE wanted (uuid TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO wanted VALUES (?)", [(u,) for u in uuids])
        return {r["uuid"] for r in database.rows(db, "SELECT v.uuid FROM visits v JOIN wanted USING (uuid)")}
    finally:
        db.close()


def log_lines(path, pattern):
    """Lines of the log at path that match pattern."""
    with open(path, encoding="utf-8", errors="replace") as log:
        return [line.strip() for line in log if re.search(pattern, line)]


def send_until_lost(server, usernames, clients, duration, password):
    """Let the phones send visits for duration seconds, then SIGKILL the server while they send; the stats, the
    moment of the loss (monotonic and wall clock) and the load average before and at it."""
    stats, lost = DrillStats(), threading.Event()
    phones = [DrillPhone(n, server, usernames[n % len(usernames)], password, stats, lost=lost)
              for n in range(clients)]
    gate = threading.Semaphore(8)  # as in the crash bench: sign-ins are not part of the load
    _in_threads([lambda phone=phone: phone.sign_in_patiently(gate) for phone in phones])
    load_before = os.getloadavg()[0]
    senders = [threading.Thread(target=phone.run, args=(float("inf"),), daemon=True) for phone in phones]
    for sender in senders:
        sender.start()
    started = time.monotonic()
    time.sleep(duration)
    load_at_loss = os.getloadavg()[0]
    lost_at, lost_at_clock = time.monotonic(), time.time()
    server.kill()  # Litestream, gunicorn and its workers at once, the phones still sending
    lost.set()
    for sender in senders:
        sender.join(timeout=30)
    return stats, {"started": started, "lost_at": lost_at, "lost_at_clock": lost_at_clock,
                   "load_before": load_before, "load_at_loss": load_at_loss}


def run(db_path, *, clients=20, duration=30.0, workers=2, threads=4, password="demo1234", app_checkpoints=False,
        keep=False):
    """Replicate a copy of db_path under load, lose the machine after duration seconds, restore; the figures."""
    folder = tempfile.mkdtemp(prefix="fieldapp-drill-")
    path, replica, log_path = (os.path.join(folder, name) for name in ("fieldapp.db", "replica", "server.log"))
    shutil.copy(db_path, path)
    server = ReplicatedServer(path, replica, litestream=litestream_binary(), app_checkpoints=app_checkpoints,
                              workers=workers, threads=threads, log_path=log_path)
    try:
        server.start()
        wait_for_replica(replica)
        stats, moments = send_until_lost(server, accounts_of(path, 12), clients, duration, password)
        replica_behind_s = moments["lost_at_clock"] - newest_file(replica)
        lose_machine(path)
        restore_s = server.restore()
        found = check_database(path, stats)
        acknowledged = set(stats.acked_uuids)
        missing = acknowledged - present(path, acknowledged)
        restarted = time.monotonic()
        server.start()  # the app under Litestream again, on the restored database
        back_s = time.monotonic() - restarted
        server.stop()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()
    errors, snapshots = log_lines(log_path, r"level=ERROR"), log_lines(log_path, r"snapshot complete")
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    lost_at, interval = moments["lost_at"], sync_interval(CONFIG.read_text())
    # Seconds from each missing visit's acknowledgement to the loss (stamped just before the kill: never below 0).
    ages = sorted(max(0.0, lost_at - stats.acked_at[u]) for u in missing)
    recent = sum(1 for t in stats.acked_at.values() if lost_at - t <= seconds(interval))
    return {"sent": len(stats.sent_uuids), "acknowledged": len(acknowledged),
            "restored": len(acknowledged) - len(missing), "missing": len(missing),
            "duplicated": found["duplicated"], "integrity": found["integrity"], "sync_interval": interval,
            "replica": "file", "acknowledged_in_last_interval": recent, "replica_behind_s": replica_behind_s,
            "newest_missing_s": ages[0] if ages else None, "oldest_missing_s": ages[-1] if ages else None,
            "throughput": len(acknowledged) / (lost_at - moments["started"]), "restore_s": restore_s,
            "back_in_s": back_s, "load_before": moments["load_before"], "load_at_loss": moments["load_at_loss"],
            "litestream_errors": errors, "litestream_snapshots": len(snapshots), "app_checkpoints": app_checkpoints,
            "kept": folder if keep else None, **stats.counts}


def summary_line(figures):
    """The one line `make restore-drill` ends with."""
    return (f"acknowledged={figures['acknowledged']} restored={figures['restored']} missing={figures['missing']} "
            f"duplicated={figures['duplicated']} sync_interval={figures['sync_interval']} "
            f"replica={figures['replica']}")


def main():
    """Run the drill on a small demo and print the details, then the summary line."""
    from bench.common import big_database

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30, help="seconds of visits before the machine is lost")
    parser.add_argument("--households", type=int, default=2000, help="size of the demo (built once, bench/cache/)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 4)))
    parser.add_argument("--app-checkpoints", action="store_true",
                        help="leave SQLite's automatic checkpoints on in the app (FIELDAPP_REPLICATED=0)")
    parser.add_argument("--keep", action="store_true", help="keep the drill's folder (database, replica, log)")
    args = parser.parse_args()
    figures = run(big_database(args.households), clients=args.clients, duration=args.duration,
                  workers=args.workers, threads=args.threads, app_checkpoints=args.app_checkpoints, keep=args.keep)
    details = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()}
    print(f"households={args.households} clients={args.clients} duration={args.duration:.0f}s "
          + json.dumps(details, sort_keys=True, ensure_ascii=False), file=sys.stderr)
    print(summary_line(figures))
    sound = figures["duplicated"] == 0 and figures["integrity"] == "ok" and not figures["litestream_errors"]
    return 0 if sound else 1


if __name__ == "__main__":
    sys.exit(main())
