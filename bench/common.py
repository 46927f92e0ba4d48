"""Shared by the bench scripts: the 100,000-household demo database, new visits, signed-in clients, timing."""
import hashlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"


def demo_version():
    """A short fingerprint of what makes the demo (its code and the schema): a cached demo made by other code is
    not taken for this one's."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "fieldapp" / "demo").glob("*.py"), ROOT / "fieldapp" / "data" / "migrations.py"]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def big_database(households=100_000):
    """Path of a cached demo database of the given size, built once with `fieldapp demo`."""
    path = Path(os.environ.get("FIELDAPP_BENCH_DB", CACHE / f"demo-{households}-{demo_version()}.db"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fieldapp", "demo", "--households", str(households)],
                       env={**os.environ, "FIELDAPP_DATABASE": str(path)}, check=True, cwd=ROOT)
        print(f"built {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return str(path)


def on_demo(description, measure, report, *, runs, prefix):
    """The command line of a bench on the demo: --runs, --engine, --households. On PostgreSQL the demo goes into a
    cluster of the bench's own; on SQLite the bench works on a copy of the cached file (its pages write the audit
    log), its write-ahead log included."""
    import argparse
    import shutil
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--households", type=int, default=100_000)
    args = parser.parse_args()
    if args.engine == "postgresql":
        from bench import postgres_server

        cluster = postgres_server.Cluster()
        try:
            report(measure(cluster.demo(args.households), args.runs))
        finally:
            cluster.stop()
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=prefix, dir=CACHE)
    try:
        source, copy = big_database(args.households), os.path.join(folder, "demo.db")
        for suffix in ("", "-wal"):  # a demo left with its write-ahead log holds part of its data there
            if os.path.exists(source + suffix):
                shutil.copyfile(source + suffix, copy + suffix)
        report(measure(copy, args.runs))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_visit(household_id, label="bench"):
    """A visit nobody has sent yet, as the phone's queue sends it."""
    return {"uuid": str(uuid.uuid4()), "household_id": household_id,
            "visited_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lat": None, "lon": None, "accuracy": None, "no_location_reason": "unavailable",
            "outcome": "met", "notes": f"bench {label}", "residents_met": [], "new_requests": [], "followups": []}


def signed_in_client(app, username, password="demo1234"):
    """A test client of app, signed in through the real form."""
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    marker = 'name="csrf-token" content="'
    start = page.index(marker) + len(marker)
    token = page[start:page.index('"', start)]
    response = client.post("/auth/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, f"sign-in of {username} failed"
    return client


def timings(call, runs):
    """p50 and p95 in milliseconds of call() over runs (after one warm-up)."""
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]
