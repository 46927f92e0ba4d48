"""Load and crash: concurrent phones send visits through the real gunicorn while the server is SIGKILLed and
restarted; afterwards every acknowledged visit must be in the database exactly once.

On SQLite (the default) the database is a copy of the 100,000-household demo; with --engine postgresql it is the
same demo built in a PostgreSQL server of the bench's own (a new cluster on disk, fsync on, removed afterwards).
The crash victim is the app (--kill app); --kill database instead stops PostgreSQL as a power cut would
(`pg_ctl stop -m immediate`) and starts it again, while the app keeps serving.

Each client signs in as a demo member, sends batches of 1-3 visits (new uuids), resends 20 % of its batches
with the same uuids (as a phone whose answer was lost), sends one conflicting resend (same uuid, other notes)
and, when the server is down, retries the same batch until it is answered — as the offline queue does.

    .venv/bin/python bench/crash_bench.py [--clients 50] [--duration 60] [--kill-at 30] [--workers 2 --threads 4]
        [--engine sqlite|postgresql] [--kill app|database]

Ends with: sent=N acknowledged=N stored=N lost=0 duplicated=0 conflicts=N throughput=N/s p95=N ms
"""
import argparse
import http.client
import http.cookiejar
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import Server  # noqa: E402
from fieldapp.data import db as database  # noqa: E402

RETRY_SHARE = 0.2
TIMEOUT = 10  # seconds a client waits for an answer before it retries


class Phone:
    """One client: a signed-in member sending visits the way the offline queue does."""

    def __init__(self, number, server, username, password, stats):
        self.number, self.server, self.username, self.password = number, server, username, password
        self.stats, self.stop_at = stats, None
        self.random = random.Random(number)
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.token, self.households, self.sequence, self.conflict_sent = None, [], 0, False
        self.acknowledged = {}  # uuid -> the item as first sent

    def request(self, path, data=None, headers=None):
        """(status, body text) of one request; OSError when the server is out of reach."""
        req = urllib.request.Request(self.server.url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=TIMEOUT) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def sign_in(self):
        """Sign in through the form; then fetch a CSRF token and the member's households."""
        status, page = self.request("/auth/login")
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": self.username, "password": self.password, "csrf_token": token})
        self.request("/auth/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        self.refresh_token()
        status, body = self.request("/api/offline-manifest")
        self.households = sorted({int(m) for m in re.findall(r"/households/(\d+)\"", body)})
        if status != 200 or not self.households:
            raise RuntimeError(f"{self.username} has no households ({status})")

    def sign_in_patiently(self, gate, attempts=10):
        """Sign in (argon2 makes it slow on purpose), retrying a few times; not part of the timed load."""
        for _ in range(attempts):
            with gate:
                try:
                    return self.sign_in()
                except (OSError, ValueError, AttributeError, http.client.HTTPException):
                    time.sleep(1)
        raise RuntimeError(f"{self.username} could not sign in")

    def refresh_token(self):
        """A fresh CSRF token from /api/session (signing in again if the session is gone)."""
        status, body = self.request("/api/session")
        session = json.loads(body)
        if session["user"] is None:
            raise PermissionError
        self.token = session["csrf_token"]

    def new_visit(self):
        """A visit nobody has sent yet; its notes name it, so that a duplicate under another uuid shows."""
        self.sequence += 1
        return {"uuid": str(uuid.uuid4()), "household_id": self.random.choice(self.households),
                "visited_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lat": None, "lon": None, "accuracy": None, "no_location_reason": "unavailable",
                "outcome": "met", "notes": f"crash bench {self.number}-{self.sequence}",
                "residents_met": [], "new_requests": [], "followups": []}

    def send(self, batch):
        """Send batch until it is answered (retrying the same uuids through a crash); return its results."""
        body = json.dumps({"visits": batch}).encode()
        while True:
            started = time.perf_counter()
            try:
                status, text = self.request("/api/visits", body, {"Content-Type": "application/json",
                                                                  "X-CSRFToken": self.token or ""})
            except (OSError, ValueError, http.client.HTTPException):  # refused, reset, cut short
                status, text = None, ""
            if status == 200:
                self.stats.latency(time.perf_counter() - started)
                return json.loads(text)["results"]
            self.stats.count("failed_attempts")
            self.stats.count(f"failed_with {status or 'no answer'}")
            time.sleep(0.2 + self.random.random() * 0.3)
            if status in (400, 401):  # a stale token, or the session is gone: as the phone, get new ones
                self.recover()

    def recover(self):
        """Fetch a fresh token, signing in again if needed; give up quietly while the server is down."""
        try:
            try:
                self.refresh_token()
            except PermissionError:
                self.sign_in()
        except (OSError, ValueError, AttributeError, RuntimeError, http.client.HTTPException):
            pass

    def run(self, stop_at):
        """Send visits until stop_at (an unexpected error is counted, not hidden)."""
        self.stop_at = stop_at
        try:
            self.work()
        except Exception as error:  # noqa: BLE001 - reported in the figures
            self.stats.count(f"client_error {type(error).__name__}: {error}")

    def work(self):
        """Send batches until the time is up; end with the one conflicting resend."""
        while time.monotonic() < self.stop_at:
            batch = [self.new_visit() for _ in range(self.random.randint(1, 3))]
            self.stats.sent(batch)
            self.take(batch, self.send(batch))
            if self.random.random() < RETRY_SHARE:  # the answer "was lost": the same uuids again
                self.stats.count("retries")
                self.take(batch, self.send(batch), resend=True)
            if not self.conflict_sent and self.acknowledged and self.random.random() < 0.1:
                self.send_conflict()
        if not self.conflict_sent and self.acknowledged:
            self.send_conflict()

    def take(self, batch, results, resend=False):
        """Note which visits the server acknowledged."""
        for item, result in zip(batch, results):
            if result["status"] in ("created", "existing"):
                self.acknowledged.setdefault(item["uuid"], item)
                self.stats.acknowledged(item["uuid"])
                if resend and result["status"] != "existing":
                    self.stats.count("resend_not_existing")
            else:
                self.stats.count(f"answer_{result['status']}")

    def send_conflict(self):
        """Resend one acknowledged visit with other notes: it must be refused as a conflict and kept."""
        self.conflict_sent = True
        original = self.acknowledged[self.random.choice(sorted(self.acknowledged))]
        changed = dict(original, notes=original["notes"] + " (changed on the phone)")
        result = self.send([changed])[0]
        self.stats.count("conflicts_answered" if result["status"] == "conflict" else "conflict_not_refused")


class Stats:
    """What the clients sent and heard, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent_uuids, self.acked_uuids, self.latencies, self.counts = set(), set(), [], {}

    def sent(self, batch):
        with self.lock:
            self.sent_uuids.update(item["uuid"] for item in batch)

    def acknowledged(self, visit_uuid):
        with self.lock:
            self.acked_uuids.add(visit_uuid)

    def latency(self, seconds):
        with self.lock:
            self.latencies.append(seconds)

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1


def _in_threads(calls):
    """Run calls at once, each in its own thread, and wait for them all."""
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def accounts_of(target, limit):
    """Usernames of members who hold cells today."""
    db = database.connect(target)
    try:
        return [r["username"] for r in database.rows(db, """
            SELECT u.username FROM users u WHERE u.role = 'member' AND u.active = 1
            AND EXISTS (SELECT 1 FROM assignments a WHERE a.user_id = u.id AND a.valid_to IS NULL)
            ORDER BY u.id LIMIT ?""", [limit])]
    finally:
        db.close()


def check_database(target, stats):
    """What the database holds of the sent visits: stored, lost, duplicated, conflicts kept, its integrity."""
    db = database.connect(target)
    try:
        db.execute("CREATE TEMP TABLE sent (uuid TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO sent VALUES (?)", [(u,) for u in stats.sent_uuids])
        stored = {r["uuid"] for r in database.rows(db, "SELECT v.uuid FROM visits v JOIN sent USING (uuid)")}
        rows = database.scalar(db, "SELECT count(*) FROM visits v JOIN sent USING (uuid)")
        same_notes = database.scalar(db, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM visits "
                                         "WHERE notes LIKE 'crash bench %' GROUP BY notes) AS same")
        conflicts = database.scalar(db, "SELECT count(*) FROM sync_conflicts c JOIN sent USING (uuid)")
        integrity = integrity_check(db)
    finally:
        db.close()
    return {"stored": len(stored), "lost": len(stats.acked_uuids - stored),
            "duplicated": (rows - len(stored)) + same_notes, "conflicts": conflicts, "integrity": integrity}


def integrity_check(db):
    """"ok", or what is damaged: SQLite's integrity_check; on PostgreSQL amcheck's checks of every table's heap
    and every B-tree index of the schema against its table (heapallindexed)."""
    if db.dialect.name == "sqlite":
        return database.scalar(db, "PRAGMA integrity_check")
    db.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    damaged = []
    for table in database.rows(db, "SELECT c.oid::int AS oid, c.relname AS name FROM pg_class c "
                                   "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"):
        found = database.rows(db, "SELECT msg FROM verify_heapam(?::oid)", [table["oid"]])
        damaged += [f"{table['name']}: {r['msg']}" for r in found]
    for index in database.rows(db, "SELECT c.oid::int AS oid, c.relname AS name FROM pg_class c "
                                   "JOIN pg_am am ON am.oid = c.relam WHERE c.relkind = 'i' AND am.amname = 'btree' "
                                   "AND c.relnamespace = 'public'::regnamespace"):
        try:
            db.execute("SELECT bt_index_check(?::oid, true)", [index["oid"]])
        except database.DatabaseError as error:
            damaged.append(f"{index['name']}: {str(error).strip()}")
    return "; ".join(damaged) or "ok"


def run(target, *, clients=50, duration=60.0, kill_at=30.0, kill="app", cluster=None, workers=2, threads=4,
        password="demo1234", usernames=None, log_path=None):
    """Run the load against the database target (a file path or a URL; it is written to) and, at kill_at (None:
    never), SIGKILL the app (kill="app") or crash its PostgreSQL server (kill="database": cluster, a
    tests.pg_cluster.Cluster) and start it again; return the figures."""
    folder = tempfile.mkdtemp(prefix="fieldapp-crash-")
    usernames = usernames or accounts_of(target, 12)
    server = Server(target, workers=workers, threads=threads,
                    log_path=log_path or os.path.join(folder, "gunicorn.log"))
    server.start()
    stats = Stats()
    phones = [Phone(n, server, usernames[n % len(usernames)], password, stats) for n in range(clients)]
    gate = threading.Semaphore(8)  # phones sign in over a morning, not all in one second
    _in_threads([lambda phone=phone: phone.sign_in_patiently(gate) for phone in phones])
    started = time.monotonic()
    threads_ = [threading.Thread(target=phone.run, args=(started + duration,), daemon=True) for phone in phones]
    for thread in threads_:
        thread.start()
    restart = None
    if kill_at is not None:
        time.sleep(max(0.0, started + kill_at - time.monotonic()))
        stop, start = (cluster.crash, cluster.start) if kill == "database" else (server.kill, server.start)
        stop()
        down = time.monotonic()
        start()
        restart = time.monotonic() - down
    for thread in threads_:
        thread.join(timeout=duration + 60)
    elapsed = time.monotonic() - started
    server.stop()
    found = check_database(target, stats)
    shutil.rmtree(folder, ignore_errors=True)
    latencies = sorted(stats.latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000 if latencies else 0
    return {"sent": len(stats.sent_uuids), "acknowledged": len(stats.acked_uuids), **found,
            "throughput": len(stats.acked_uuids) / elapsed, "p95": p95, "restart_s": restart, **stats.counts}


def postgres_demo(cluster, households=100_000):
    """The demo of that size as database "demo" of cluster (its URL), as `make bench` makes it."""
    from bench.postgres_server import demo_database

    return demo_database(cluster.bin, cluster.create("demo"), households)


def summary_line(figures):
    """The one line `make bench-crash` ends with."""
    return (f"sent={figures['sent']} acknowledged={figures['acknowledged']} stored={figures['stored']} "
            f"lost={figures['lost']} duplicated={figures['duplicated']} conflicts={figures['conflicts']} "
            f"throughput={figures['throughput']:.0f}/s p95={figures['p95']:.0f} ms")


def main():
    """Run the bench on the 100,000-household demo and print the details, then the summary line."""
    from bench.common import big_database
    from tests.pg_cluster import Cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--kill-at", type=float, default=30, help="seconds into the run; negative: no kill")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 4)))
    parser.add_argument("--engine", choices=("sqlite", "postgresql"),
                        default=os.environ.get("FIELDAPP_BENCH_ENGINE", "sqlite"),
                        help="postgresql: a PostgreSQL server of the bench's own, on disk with fsync on")
    parser.add_argument("--kill", choices=("app", "database"), default="app",
                        help="database: crash PostgreSQL (pg_ctl stop -m immediate) instead of the app")
    args = parser.parse_args()
    if args.kill == "database" and args.engine != "postgresql":
        parser.error("--kill database needs --engine postgresql")
    folder, cluster = tempfile.mkdtemp(prefix="fieldapp-crash-"), None
    try:
        if args.engine == "postgresql":
            cluster = Cluster(durable=True)
            target = postgres_demo(cluster)
        else:
            target = os.path.join(folder, "crash.db")
            shutil.copy(big_database(), target)
        figures = run(target, clients=args.clients, duration=args.duration,
                      kill_at=args.kill_at if args.kill_at >= 0 else None, kill=args.kill, cluster=cluster,
                      workers=args.workers, threads=args.threads)
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    details = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()}
    print(f"engine={args.engine} kill={args.kill} workers={args.workers} threads={args.threads} "
          f"clients={args.clients} duration={args.duration:.0f}s " + json.dumps(details, sort_keys=True),
          file=sys.stderr)
    print(summary_line(figures))
    return 0 if figures["lost"] == 0 and figures["duplicated"] == 0 and figures["integrity"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
