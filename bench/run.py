"""`make bench`: every performance figure next to its baseline, measured in one run on this machine; one table
printed (Markdown) and bench/results.json written.

    .venv/bin/python bench/run.py [--quick] [--households N] [--only SECTION,...] [--engines sqlite,postgresql]
                                  [--out FILE]

The database is the demo of --households (100,000; --quick: 10,000) built once by `fieldapp demo` and cached in
bench/cache/: on SQLite each run works on a copy of the file; on PostgreSQL each run starts a durable cluster of its
own (bench/postgres_server.py: fsync and synchronous_commit on) and restores the cached pg_dump of the demo into
it. The real server is gunicorn with the repository's gunicorn.conf.py on 127.0.0.1, serving the app plus its
baselines (bench/baseline.py) in the same processes. Load comes from locust (headless, bench/locustfile.py).

Sections: pages, cost, map, map-page, visits, limit, app-servers, lighthouse, coverage, import, bytes. pages, cost,
visits and limit run on every engine of --engines (default both), one engine after the other, and are printed
side by side; app-servers (two gunicorn instances on one database) runs on PostgreSQL; the others on SQLite.
Without chromium, node or PostgreSQL's server the sections that need them say what to install and are skipped;
the others run.
"""
import argparse
import concurrent.futures
import gzip
import http.client
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import postgres_server  # noqa: E402
from bench.common import big_database, new_visit  # noqa: E402
from bench.server import Server  # noqa: E402
from bench.visit_loop_bench import member_near  # noqa: E402
from fieldapp.data import db as database  # noqa: E402
from fieldapp.data.db import sqlite3  # noqa: E402  (the app's SQLite, from pysqlite3)

CHROMIUM = "/usr/bin/chromium"
SECTIONS = ("pages", "cost", "map", "map-page", "visits", "limit", "app-servers", "lighthouse", "coverage", "import",
            "bytes")
ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# The engines a section runs on (of those the run picked); the others run on SQLite alone.
RUNS_ON = {"pages": tuple(ENGINES), "cost": tuple(ENGINES), "visits": tuple(ENGINES), "limit": tuple(ENGINES),
           "app-servers": ("postgresql",)}
SERVER_SECTIONS = ("pages", "cost", "map", "map-page", "visits", "limit", "app-servers", "lighthouse")
TOGETHER = ("limit",)  # sections that take all their engines at once (in turns), not one engine after the other
NEEDS = {"map-page": ("chromium",), "bytes": ("chromium",), "lighthouse": ("chromium", "node")}
INSTALL = {"chromium": f"{CHROMIUM} is missing: apt-get install chromium",
           "node": "node/npm are missing: apt-get install nodejs npm",
           "postgresql": f"PostgreSQL's server is missing: {postgres_server.INSTALL}"}
# The field's figures for a sub-district of 100,000 households: 1,500-2,000 visits on a normal day; the heaviest
# real day is an emergency sweep (typhoon, epidemic), every household in one working day of 8 hours (about 3.5
# visits/s), peaking at about 7/s. One machine of 2 cores is to carry 20x that peak, visits with their pages.
SIZING = {"households": 100_000, "normal_day_visits": [1500, 2000], "sweep_working_day_h": 8,
          "sweep_visits_per_s": 100_000 / (8 * 3600), "sweep_peak_visits_per_s": 7.0, "headroom": 20}
GOAL_VISITS_PER_S = SIZING["sweep_peak_visits_per_s"] * SIZING["headroom"]
P95_LIMIT_MS = 300
# The limit search: users from `first`, doubled while p95 is under `near_ms`, then raised by `grow`, up to `cap`;
# then halved `bisect` times between the last good and the first bad step while they are more than `resolution`
# apart.
LIMIT_STEPS = {"first": 25, "near_ms": 150, "grow": 1.4, "cap": 2000, "bisect": 2, "resolution": 0.1}
# The load generator runs on the same cores: its processes (`locust --processes`) and when a step is its limit rather
# than the app's — its processes together past this share of the machine's cores, one process past this share of
# its core (a busy event loop delays every request it times), or their event loops waking this late (p95).
LOCUST_PROCESSES = int(os.environ.get("BENCH_LOCUST_PROCESSES", os.cpu_count() or 1))
GENERATOR_LIMIT = {"machine_share": 0.25, "process_core_share": 0.8, "loop_lag_p95_ms": 50}
# A step that breaks while other processes take this share of the cores shows the machine's limit, not the app's.
MACHINE_OTHERS_SHARE = 0.3
# Accounts signed in for the mixed scenario (members, leaders); bench users beyond them share their sessions.
MIXED_ACCOUNTS = (120, 20)


class Table:
    """The rows of the report: figure, value, baseline, ratio, goal and whether it is met."""

    def __init__(self):
        self.rows, self.errors = [], []

    def add(self, figure, value, baseline="", ratio=None, goal="", met=None, engine=None, **data):
        """One row; a figure measured on each engine of the run names its engine (engine: a key of ENGINES)."""
        shown = f"{figure} — {ENGINES[engine]}" if engine else figure
        self.rows.append({"figure": shown, "value": value, "baseline": baseline, "ratio": ratio, "goal": goal,
                          "met": met, "engine": engine, "measured": figure, **data})
        mark = "" if met is None else (" (goal met)" if met else " (GOAL MISSED)")
        print(f"  {shown}: {value}" + (f" | baseline {baseline}" if baseline else "")
              + (f" | {ratio}" if ratio else "") + mark, flush=True)

    def markdown(self):
        lines = ["| figure | value | baseline in the same run | ratio | goal | met |", "|---|---|---|---|---|---|"]
        for row in self.rows:
            met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
            lines.append(f"| {row['figure']} | {row['value']} | {row['baseline']} | {row['ratio'] or ''} "
                         f"| {row['goal']} | {met} |")
        return "\n".join(lines)

    def side_by_side(self):
        """The figures measured on several engines, one column per engine (value; baseline; ratio), or None."""
        columns, figures = [], {}
        for row in self.rows:
            if row["engine"]:
                columns += [row["engine"]] if row["engine"] not in columns else []
                cell = row["value"] + (f"; {row['baseline']}" if row["baseline"] else "") + (
                    f"; {row['ratio']}" if row["ratio"] else "")
                figures.setdefault(row["measured"], {})[row["engine"]] = cell
        if len(columns) < 2:
            return None
        lines = ["| figure | " + " | ".join(ENGINES[c] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for figure, cells in figures.items():
            lines.append(f"| {figure} | " + " | ".join(cells.get(c, "") for c in columns) + " |")
        return "\n".join(lines)


def percentile(samples, share):
    """The nearest-rank percentile: of 2 samples the p95 is the larger."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def machine():
    """What the figures were measured on."""
    memory = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)

    def version(command):
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None

    postgresql = postgres_server.server_binaries()
    return {"cores": os.cpu_count(), "memory_mib": memory, "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "postgresql": version([os.path.join(postgresql, "postgres"), "--version"]) if postgresql else None,
            "chromium": version([CHROMIUM, "--version"]) if os.path.exists(CHROMIUM) else None,
            "node": version(["node", "--version"]) if shutil.which("node") else None}


def busy_seconds():
    """CPU seconds the whole machine has spent busy (all processes, all cores): what else ran shows."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0)


def missing_tools():
    """The tools some sections need that this machine lacks."""
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append("chromium")
    if not (shutil.which("node") and shutil.which("npm")):
        missing.append("node")
    if postgres_server.server_binaries() is None:
        missing.append("postgresql")
    return missing


class Http:
    """Keep-alive HTTP to the server with a session cookie: the leanest client, for timing single requests."""

    def __init__(self, url, cookies=None):
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        self.cookie = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())

    def get(self, path, encoding="gzip", **headers):
        """(status, raw body as sent, seconds) of one GET."""
        headers = {"Accept-Encoding": encoding, "Cookie": self.cookie, **headers}
        started = time.perf_counter()
        self.connection.request("GET", path, headers=headers)
        answer = self.connection.getresponse()
        body = answer.read()
        return answer.status, body, time.perf_counter() - started

    def post_json(self, path, document, **headers):
        """(status, body, seconds) of one POST of document as JSON."""
        headers = {"Content-Type": "application/json", "Cookie": self.cookie, **headers}
        started = time.perf_counter()
        self.connection.request("POST", path, body=json.dumps(document).encode(), headers=headers)
        answer = self.connection.getresponse()
        body = answer.read()
        return answer.status, body, time.perf_counter() - started


def open_session(url, username, password="demo1234"):
    """Sign in through the form; the session's cookies and a CSRF token for the API."""
    import requests

    session = requests.Session()
    page = session.get(url + "/auth/login", timeout=60).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    answer = session.post(url + "/auth/login", data={"username": username, "password": password, "csrf_token": token},
                          allow_redirects=False, timeout=60)
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in of {username} answered {answer.status_code}")
    csrf = session.get(url + "/api/session", timeout=60).json()["csrf_token"]
    return session, {"username": username, "cookies": session.cookies.get_dict(), "domain": "127.0.0.1",
                     "csrf_token": csrf}


def accounts(url, db_path, members, leaders):
    """Sessions for up to members member accounts (with their households) and leaders leader accounts."""
    db = database.connect(db_path)
    names = {role: [r["username"] for r in database.rows(db, """
        SELECT u.username FROM users u WHERE u.role = ? AND u.active = 1 AND EXISTS (
          SELECT 1 FROM assignments a WHERE a.user_id = u.id AND a.valid_to IS NULL) ORDER BY u.id LIMIT ?""",
        [role, limit])] for role, limit in (("member", members), ("leader", leaders))}
    if not names["leader"]:  # a leader holds a grid, not cells
        names["leader"] = [r["username"] for r in database.rows(
            db, "SELECT username FROM users WHERE role = 'leader' AND active = 1 ORDER BY id LIMIT ?", [leaders])]
    db.close()

    def member(username):
        session, account = open_session(url, username)
        manifest = session.get(url + "/api/offline-manifest", timeout=120).text
        account["households"] = sorted({int(m) for m in re.findall(r"/households/(\d+)\"", manifest)})
        return account

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        found = {"members": list(pool.map(member, names["member"])),
                 "leaders": [account for _, account in pool.map(lambda n: open_session(url, n), names["leader"])]}
    found["members"] = [m for m in found["members"] if m["households"]]
    return found


def locust(urls, scenario, users, measure, folder, accounts_file, leaders=1, processes=1, sample=None):
    """Run one locust scenario headless against the servers at urls (one locust run each, the users and leaders
    shared out between them, all started at once; each run with `processes` worker processes when more than one);
    what they saw in their measurement windows together, and the load generator's own CPU: over the whole run
    (every locust process, from the kernel's accounting of children), over the window per process, and how late
    each process's event loop woke up. sample, if given, is called about twice a second while locust runs."""
    urls = [urls] if isinstance(urls, str) else urls
    started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    runs = []
    for number, url in enumerate(urls):
        share = users // len(urls) + (number < users % len(urls))
        out = Path(folder, f"locust-{scenario}-{users}-{len(urls)}-{number}")
        for old in Path(folder).glob(out.name + "-*.json"):
            old.unlink()
        env = {**os.environ, "BENCH_SCENARIO": scenario, "BENCH_MEASURE": str(measure), "BENCH_OUT": str(out),
               "BENCH_ACCOUNTS": str(accounts_file), "BENCH_LEADERS": str(max(1, leaders // len(urls)))}
        with open(f"{out}.log", "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--host",
                 url, "-u", str(share), "-r", str(share), "-t", f"{int(measure) + 120}s", "--only-summary",
                 "--loglevel", "ERROR", "--stop-timeout", "5"]
                + (["--processes", str(processes)] if processes > 1 else []),
                env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT)
        runs.append((process, out))
    while sample and any(process.poll() is None for process, _ in runs):
        sample()
        time.sleep(0.5)
    seen = {"window_s": measure, "requests": {}, "served": {}, "signed_in": 0, "generator": [], "window": None}
    for process, out in runs:
        process.wait()
        errors = Path(f"{out}.log").read_text(errors="replace")
        files = sorted(Path(folder).glob(out.name + "-*.json"))
        reports = [json.loads(file.read_text()) for file in files]
        if not any(one["role"] != "master" for one in reports):
            raise RuntimeError(f"locust {scenario} wrote nothing (exit {process.returncode}): {errors[-2000:]}")
        for one in reports:
            for name, entry in one["requests"].items():
                merged = seen["requests"].setdefault(name, {"times": [], "failures": 0, "errors": {}})
                merged["times"] += entry["times"]
                merged["failures"] += entry["failures"]
                for message, count in entry["errors"].items():
                    merged["errors"][message] = merged["errors"].get(message, 0) + count
            for name, count in one.get("served", {}).items():
                seen["served"][name] = seen["served"].get(name, 0) + count
            if one["unanswered"]:
                merged = seen["requests"].setdefault("unanswered", {"times": [], "failures": 0, "errors": {}})
                merged["failures"] += one["unanswered"]
                message = "no answer within 15 s of the window's end"
                merged["errors"][message] = merged["errors"].get(message, 0) + one["unanswered"]
            seen["signed_in"] += one["signed_in"]
            seen["window"] = seen["window"] or one["window"]
            lag = one["loop_lag_ms"]
            seen["generator"].append({
                "role": one["role"], "cpu_s": one["cpu_s"],
                "window_core_share": one["window_cpu_s"] / one["window_wall_s"] if one["window_wall_s"] else None,
                "loop_lag_p95_ms": percentile(lag, 0.95) if lag else None, "loop_lag_max_ms": max(lag, default=None)})
    seen["wall_s"] = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load generator's own CPU: it shares the machine
    seen["locust_cpu_s"] = max((after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime),
                               sum(one["cpu_s"] for one in seen["generator"]))  # workers the master did not wait for
    return seen


def summary(seen, names=None):
    """Count, rate, p50, p95 and failures over the requests of names (all when None)."""
    times, failures, errors = [], 0, {}
    for name, entry in seen["requests"].items():
        if names is None or name in names:
            times += entry["times"]
            failures += entry["failures"]
            for message, count in entry["errors"].items():
                errors[message] = errors.get(message, 0) + count
    if not times:
        return {"count": 0, "per_s": 0, "p50": None, "p95": None, "failures": failures, "errors": errors}
    return {"count": len(times), "per_s": len(times) / seen["window_s"], "p50": statistics.median(times),
            "p95": percentile(times, 0.95), "failures": failures, "errors": errors}


def server_shape():
    """(workers, threads, worker class) of gunicorn.conf.py in this environment."""
    import runpy

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return conf["workers"], conf["threads"], conf["worker_class"]


class Engine:
    """One engine of the run: its copy of the demo, the gunicorn instances serving it (the app and its baselines in
    the same processes), and the member whose pages are measured."""

    def __init__(self, name, households, folder):
        self.name, self.label = name, ENGINES[name]
        self.households, self.folder = households, folder
        self.cluster, self.target, self.servers = None, None, []

    def database(self):
        """The engine's copy of the demo: a copy of the cached file, or a database on the bench's own durable
        PostgreSQL cluster restored from the cached dump."""
        if self.target is None and self.name == "sqlite":
            self.target = os.path.join(self.folder, "bench.db")
            shutil.copy(big_database(self.households), self.target)
        elif self.target is None and self.cluster is None:
            self.cluster = postgres_server.Cluster()
            self.target = self.cluster.demo(self.households)
        elif self.target is None:
            raise RuntimeError("the demo could not be loaded into PostgreSQL earlier in this run")
        return self.target

    def serve(self):
        """One more gunicorn instance on the engine's database, on a port of its own, shaped as gunicorn.conf.py
        says (workers × threads; WEB_CONCURRENCY, GUNICORN_THREADS and GUNICORN_WORKER_CLASS override it)."""
        workers, threads, _ = server_shape()
        server = Server(self.database(), workers=workers, threads=threads, app="bench.baseline:create_app()",
                        log_path=os.path.join(self.folder, f"gunicorn-{self.name}-{len(self.servers)}.log"),
                        env={"FIELDAPP_BENCH_DIR": self.folder, "FIELDAPP_SECRET_KEY": "bench"})
        server.start(timeout=120)
        self.servers.append(server)
        return server

    def start(self):
        """The engine's first server, and the people the sections measure for."""
        if self.servers:
            return
        self.serve()
        db = database.connect(self.target)
        try:
            self.member, self.member_households = member_near(db)
            self.household = database.scalar(db, """SELECT h.id FROM households h
                JOIN assignments a ON a.cell_id = h.cell_id JOIN users u ON u.id = a.user_id
                WHERE u.username = ? AND a.valid_to IS NULL
                ORDER BY (SELECT count(*) FROM visits v WHERE v.household_id = h.id) DESC, h.id LIMIT 1""",
                [self.member])
            self.leader = database.scalar(
                db, "SELECT username FROM users WHERE role = 'leader' AND active = 1 ORDER BY id LIMIT 1")
        finally:
            db.close()

    @property
    def server(self):
        return self.servers[0]

    def stop(self, keep=0):
        """Stop the servers past the first keep ones."""
        while len(self.servers) > keep:
            self.servers.pop().stop()

    def close(self):
        """Stop the servers and the engine's PostgreSQL cluster."""
        self.stop()
        if self.cluster:
            self.cluster.stop()
            self.cluster = None

    def cpu_seconds(self):
        """CPU seconds used so far by the masters and workers of the engine's gunicorn instances."""
        import psutil

        total = 0.0
        for server in self.servers:
            for pid in server.pids():
                try:
                    times = psutil.Process(pid).cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
        return total

    def database_cpu_seconds(self):
        """CPU seconds used so far by the database server: PostgreSQL's processes. SQLite runs inside the app's
        processes, whose CPU cpu_seconds counts already: 0."""
        return self.cluster.cpu_seconds() if self.cluster else 0.0

    def memory_mib(self):
        import psutil

        return sum(psutil.Process(pid).memory_info().rss for s in self.servers for pid in s.pids()) / 2**20

    def sessions(self, members, leaders):
        """A file of accounts signed in on the engine's server, for locust."""
        path = Path(self.folder, f"accounts-{self.name}-{members}-{leaders}.json")
        if not path.exists():
            path.write_text(json.dumps(accounts(self.server.url, self.target, members, leaders)))
        return path


class Bench:
    """One run of the sections against the engines' servers and copies of the demo."""

    def __init__(self, args, table, folder):
        self.args, self.table, self.folder = args, table, folder
        self.quick = args.quick
        self.runs = 15 if self.quick else 40
        self.engines = {name: Engine(name, args.households, folder) for name in args.engines}
        self.results = {}

    def stop(self):
        """Stop every engine's servers (the sections that run without one)."""
        for engine in self.engines.values():
            engine.stop()

    def close(self):
        for engine in self.engines.values():
            engine.close()

    def keep(self, section, engine, figures):
        """Keep a section's figures of one engine in results.json."""
        self.results.setdefault(section, {})[engine.name] = figures

    # -- sections on every engine ---------------------------------------------------------------------------
    def pages(self, engine):
        """The member's list and a household page next to a bare page of the same bytes, over HTTP."""
        _, account = open_session(engine.server.url, engine.member)
        client = Http(engine.server.url, account["cookies"])
        page = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
        figures = {}
        for name, url in (("my households", "/households/"), ("household page", f"/households/{engine.household}")):
            status, html, _ = client.get(url, encoding="identity", **page)
            assert status == 200, f"{url} answered {status}"
            file = f"{engine.name}-" + re.sub(r"\W", "-", name) + ".html"
            Path(self.folder, file).write_bytes(html)
            served, bare, sizes = [], [], {}
            for _ in range(3):  # warm both workers
                client.get(url, **page), client.get(f"/bench/bare/{file}")
            for _ in range(self.runs):  # in turns, so that both see the same load
                status, body, seconds = client.get(url, encoding="br, gzip", **page)
                served.append(seconds * 1000)
                sizes["page"] = len(body)
                status, body, seconds = client.get(f"/bench/bare/{file}", encoding="br, gzip")
                bare.append(seconds * 1000)
                sizes["bare"] = len(body)
            p50, p95, b50, b95 = (statistics.median(served), percentile(served, 0.95),
                                  statistics.median(bare), percentile(bare, 0.95))
            figures[name] = {"html_bytes": len(html), "wire_bytes": sizes, "p50_ms": p50, "p95_ms": p95,
                             "bare_p50_ms": b50, "bare_p95_ms": b95}
            label = (f'"{name}" ({engine.member_households} households)' if name == "my households"
                     else "household page")
            self.table.add(f"{label}, p50 / p95 over HTTP, {len(html) // 1024} KB of HTML",
                           f"{p50:.1f} / {p95:.1f} ms", f"bare page of the same bytes {b50:.1f} / {b95:.1f} ms",
                           f"{p50 / b50:.1f}× / {p95 / b95:.1f}×", "≤ 3×", max(p50 / b50, p95 / b95) <= 3,
                           engine=engine.name, key=f"page {name} {engine.name}", data=figures[name])
        self.keep("pages", engine, figures)

    def cost(self, engine):
        """What a request costs, one at a time: CPU of the app's processes and of the database server per request
        for the member's list, a household page and a visit POST, each next to its baseline."""
        count = 40 if self.quick else 150
        session, account = open_session(engine.server.url, engine.member)
        manifest = session.get(engine.server.url + "/api/offline-manifest", timeout=120).text
        households = sorted({int(m) for m in re.findall(r"/households/(\d+)\"", manifest)})
        client = Http(engine.server.url, account["cookies"])
        page = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Accept-Encoding": "br, gzip"}

        def get(url, **headers):
            status, body, seconds = client.get(url, **headers)
            assert status == 200, f"{url} answered {status}"
            return seconds

        def post_visit(number):
            visit = new_visit(households[number % len(households)])
            status, body, seconds = client.post_json("/api/visits", {"visits": [visit]},
                                                     **{"X-CSRFToken": account["csrf_token"]})
            assert status == 200 and json.loads(body)["results"][0]["status"] == "created", f"visit: {body[:200]}"
            return seconds

        def bare_insert(number):
            visit = new_visit(households[number % len(households)])
            status, body, seconds = client.post_json("/bench/insert", {"visits": [visit]}, **{"X-Id": visit["uuid"]})
            assert status == 201, f"bare insert answered {status}"
            return seconds

        def measure(call):
            for number in range(3):  # warm both workers
                call(number)
            app, db = engine.cpu_seconds(), engine.database_cpu_seconds()
            seconds = [call(number) for number in range(count)]
            return {"app_ms": (engine.cpu_seconds() - app) / count * 1000,
                    "database_ms": (engine.database_cpu_seconds() - db) / count * 1000,
                    "p50_ms": statistics.median(seconds) * 1000}

        cases = []
        for name, url in (("my households", "/households/"), ("household page", f"/households/{engine.household}")):
            status, html, _ = client.get(url, encoding="identity", **page)
            file = f"{engine.name}-cost-" + re.sub(r"\W", "-", name) + ".html"
            Path(self.folder, file).write_bytes(html)
            cases.append((name, "bare page of the same bytes", lambda _, url=url: get(url, **page),
                          lambda _, file=file: get(f"/bench/bare/{file}", **{"Accept-Encoding": "br, gzip"})))
        cases.append(("visit POST", "bare durable INSERT", post_visit, bare_insert))
        figures = {}
        for name, bare_name, call, bare in cases:
            served, baseline = measure(call), measure(bare)
            figures[name] = {"request": served, "baseline": baseline, "requests": count}
            total, bare_total = served["app_ms"] + served["database_ms"], baseline["app_ms"] + baseline["database_ms"]
            self.table.add(f"CPU per request, {name}, one at a time ({count}): app + database server",
                           f"{served['app_ms']:.1f} + {served['database_ms']:.1f} = {total:.1f} ms "
                           f"(p50 {served['p50_ms']:.1f} ms)",
                           f"{bare_name} {baseline['app_ms']:.1f} + {baseline['database_ms']:.1f} = "
                           f"{bare_total:.1f} ms", f"{total / bare_total:.1f}×", engine=engine.name,
                           key=f"cost {name} {engine.name}")
        self.keep("cost", engine, figures)

    def visits(self, engine):
        """Visit POSTs at 50 concurrent clients next to a bare durable INSERT, same server; CPU per visit."""
        window = 10 if self.quick else 20
        users = 50
        accounts_file = engine.sessions(50, 5)
        figures = {}
        for scenario, name in (("visits", "POST /api/visits"), ("insert", "POST /bench/insert")):
            cpu, db_cpu = engine.cpu_seconds(), engine.database_cpu_seconds()
            seen = locust(engine.server.url, scenario, users, window, self.folder, accounts_file)
            served = seen["served"].get(name, 0)
            app_s, db_s = engine.cpu_seconds() - cpu, engine.database_cpu_seconds() - db_cpu
            figures[scenario] = {**summary(seen, [name]), "server_cpu_s": app_s, "database_cpu_s": db_s,
                                 "served": served, "app_cpu_ms": app_s / max(served, 1) * 1000,
                                 "database_cpu_ms": db_s / max(served, 1) * 1000}
        app, bare = figures["visits"], figures["insert"]
        self.keep("visits", engine, figures)
        share = app["per_s"] / bare["per_s"] if bare["per_s"] else 0
        errors = app["failures"] + bare["failures"]
        self.table.add(f"visit POST at {users} concurrent clients (session, CSRF, idempotency, durable commit): "
                       "visits/s, p95; CPU per visit, app + database",
                       f"{app['per_s']:.0f}/s, p95 {app['p95']:.0f} ms"
                       + (f", {app['failures']} failed" if app["failures"] else "")
                       + f"; {app['app_cpu_ms']:.1f} + {app['database_cpu_ms']:.1f} ms",
                       f"bare durable INSERT {bare['per_s']:.0f}/s, p95 {bare['p95']:.0f} ms; "
                       f"{bare['app_cpu_ms']:.1f} + {bare['database_cpu_ms']:.1f} ms",
                       f"{share:.0%} of the throughput", "≥ 60 %", share >= 0.6 and not errors, engine=engine.name,
                       key=f"visit post {engine.name}")

    def mixed(self, engine, urls, users, window, accounts_file, processes=1):
        """One step of the mixed scenario against the servers at urls: what locust saw, and each side's CPU over
        the measurement window (sampled while locust runs) and over the whole run."""
        urls, leaders = [urls] if isinstance(urls, str) else urls, max(1, users // 20)
        samples = []

        def sample():
            samples.append((time.time(), engine.cpu_seconds(), engine.database_cpu_seconds(), busy_seconds()))

        sample()
        started = time.perf_counter()
        seen = locust(urls, "mixed", users, window, self.folder, accounts_file, leaders, processes, sample)
        elapsed = time.perf_counter() - started
        sample()
        app_s, db_s = samples[-1][1] - samples[0][1], samples[-1][2] - samples[0][2]
        machine_s = samples[-1][3] - samples[0][3]
        cores = os.cpu_count()

        def between(start, end, column):
            """CPU seconds of a sampled column from start to end (linear between samples), or None."""
            def at(moment):
                for before, after in zip(samples, samples[1:]):
                    if before[0] <= moment <= after[0]:
                        share = (moment - before[0]) / ((after[0] - before[0]) or 1)
                        return before[column] + share * (after[column] - before[column])
                return None
            first, last = at(start), at(end)
            return None if first is None or last is None else last - first

        start, end = seen["window"] or (None, None)
        in_window = [between(start, end, column) if start else None for column in (1, 2, 3)]
        if None in in_window:  # the samples missed the window: the whole run's shares
            in_window, span = [app_s, db_s, machine_s], elapsed
        else:
            span = end - start
        generator = seen["generator"]
        process_shares = [g["window_core_share"] for g in generator if g["window_core_share"] is not None]
        lags = [g["loop_lag_p95_ms"] for g in generator if g["loop_lag_p95_ms"] is not None]
        served, visits = sum(seen["served"].values()), seen["served"].get("POST /api/visits", 0)
        step = {"users": users, "leaders": leaders, "servers": len(urls), "locust_processes": processes,
                "signed_in": seen["signed_in"], "all": summary(seen), "visits": summary(seen, ["POST /api/visits"]),
                "per_request": {name: summary(seen, [name]) for name in seen["requests"]},
                "server_cpu_share": in_window[0] / span / cores, "database_cpu_share": in_window[1] / span / cores,
                "machine_cpu_share": in_window[2] / span / cores,
                "locust_cpu_share": sum(process_shares) / cores if process_shares else
                seen["locust_cpu_s"] / elapsed / cores,
                "locust_whole_run_cpu_share": seen["locust_cpu_s"] / elapsed / cores,
                "locust_busiest_process_core_share": max(process_shares, default=None),
                "locust_loop_lag_p95_ms": max(lags, default=None), "locust_processes_seen": generator,
                "served": served, "served_visits": visits, "app_cpu_s": app_s, "database_cpu_s": db_s,
                "app_cpu_ms_per_request": app_s / max(served, 1) * 1000,
                "database_cpu_ms_per_request": db_s / max(served, 1) * 1000,
                "server_rss_mib": engine.memory_mib(), "load_average": os.getloadavg()[0]}
        step["verdict"], step["why"] = self.verdict(step)
        return step

    @staticmethod
    def verdict(step):
        """("good" | "app" | "generator", why): whether a step held, and if not, whose limit it was. The load
        generator's limit comes first: past it, the times locust took are its own as much as the app's."""
        every, limits, why = step["all"], GENERATOR_LIMIT, []
        if step["locust_cpu_share"] >= limits["machine_share"]:
            why.append(f"locust {step['locust_cpu_share']:.0%} of the cores")
        if (step["locust_busiest_process_core_share"] or 0) >= limits["process_core_share"]:
            why.append(f"a locust process at {step['locust_busiest_process_core_share']:.0%} of its core")
        if (step["locust_loop_lag_p95_ms"] or 0) >= limits["loop_lag_p95_ms"]:
            why.append(f"locust's event loop {step['locust_loop_lag_p95_ms']:.0f} ms late (p95)")
        if step["signed_in"] < step["users"]:
            why.append(f"only {step['signed_in']} of {step['users']} users started")
        if why:
            return "generator", "; ".join(why)
        if every["p95"] is None:
            broke = "no request answered in the window"
        elif every["failures"]:
            broke = f"{every['failures']} failed ({next(iter(every['errors']), '')})"
        elif every["p95"] > P95_LIMIT_MS:
            broke = f"p95 {every['p95']:.0f} ms > {P95_LIMIT_MS} ms"
        else:
            return "good", ""
        # On a shared machine other processes may have taken the cores: the step then shows the machine's limit.
        others = step["machine_cpu_share"] - step["server_cpu_share"] - step["database_cpu_share"] - step[
            "locust_cpu_share"]
        if others >= MACHINE_OTHERS_SHARE:
            return "machine", f"{broke}, while other processes took {others:.0%} of the cores"
        return "app", broke

    @staticmethod
    def describe(step):
        every = step["all"]
        busiest, lag = step["locust_busiest_process_core_share"], step["locust_loop_lag_p95_ms"]
        return (f"{step['users']} users ({step['leaders']} leaders) on {step['servers']} server"
                f"{'s' if step['servers'] > 1 else ''}: {every['per_s']:.0f} requests/s, "
                f"{step['visits']['per_s']:.1f} visits/s, p95 {every['p95'] or 0:.0f} ms, {every['failures']} failed; "
                f"CPU of {os.cpu_count()} cores in the window: app {step['server_cpu_share']:.0%}, database "
                f"{step['database_cpu_share']:.0%}, locust {step['locust_cpu_share']:.0%} ({step['locust_processes']} "
                f"process{'es' if step['locust_processes'] > 1 else ''}"
                + (f", busiest {busiest:.0%} of a core" if busiest is not None else "")
                + (f", loop late {lag:.0f} ms p95" if lag is not None else "")
                + f"), all processes {step['machine_cpu_share']:.0%}; per request app "
                f"{step['app_cpu_ms_per_request']:.1f} ms, database {step['database_cpu_ms_per_request']:.1f} ms; "
                f"app {step['server_rss_mib']:.0f} MiB; load {step['load_average']:.1f}"
                + (f" — {step['verdict']}: {step['why']}" if step.get("why") else ""))

    @staticmethod
    def next_users(state, quick):
        """The users of an engine's next step of the limit search, or None when it is over."""
        steps, good, bad = LIMIT_STEPS, state["good"], state["bad"]
        if state["generator"]:
            return None
        if bad is None:
            if good["users"] >= steps["cap"]:
                return None
            grow = 2 if good["all"]["p95"] < steps["near_ms"] else steps["grow"]
            return min(steps["cap"], int(round(good["users"] * grow / 5) * 5))
        low = good["users"] if good else 0
        if state["bisected"] >= (1 if quick else steps["bisect"]) or bad["users"] - low <= max(
                5, steps["resolution"] * max(low, 1)):
            return None
        state["bisected"] += 1
        return max(5, int(round((low + bad["users"]) / 2 / 5) * 5))

    def limit(self, engines):
        """The mixed scenario raised step by step (LIMIT_STEPS) until p95 > 300 ms or a request fails, then
        bisected between the last good and the first bad step; at each round the engines take turns, so that
        whatever else runs on the machine weighs on both alike, and a step that broke while other processes took
        the cores (MACHINE_OTHERS_SHARE) runs once more before it counts. Locust runs with LOCUST_PROCESSES
        workers, and a step where it is near its own limit (GENERATOR_LIMIT) ends the search as the generator's
        limit."""
        window = 10 if self.quick else 20
        first = 20 if self.quick else LIMIT_STEPS["first"]
        files = {engine.name: engine.sessions(*MIXED_ACCOUNTS) for engine in engines}
        states = {engine.name: {"steps": [], "good": None, "bad": None, "generator": None, "bisected": 0,
                                "next": first} for engine in engines}
        while any(state["next"] for state in states.values()):
            for engine in engines:
                state = states[engine.name]
                if not state["next"]:
                    continue
                step = self.mixed(engine, engine.server.url, state["next"], window, files[engine.name],
                                  LOCUST_PROCESSES)
                state["steps"].append(step)
                print(f"  step {self.describe(step)} — {engine.label}", flush=True)
                if step["verdict"] == "machine" and not state.get("retried") == step["users"]:
                    state["retried"] = step["users"]  # other work may pass: the step once more before it counts
                    continue
                if step["verdict"] == "good":
                    state["good"] = step if not state["good"] or step["users"] > state["good"]["users"] else \
                        state["good"]
                elif step["verdict"] in ("app", "machine"):
                    state["bad"] = step if not state["bad"] or step["users"] < state["bad"]["users"] else state["bad"]
                else:
                    state["generator"] = step
                state["next"] = self.next_users(state, self.quick)
        workers, threads, worker_class = server_shape()
        for engine in engines:
            state = states[engine.name]
            self.keep("limit", engine, {"steps": state["steps"], "sustained": state["good"],
                                        "first_beyond": state["generator"] or state["bad"],
                                        "limited_by": (state["generator"] or state["bad"] or {}).get("verdict", "cap"),
                                        "sizing": SIZING,
                                        "goal_visits_per_s": GOAL_VISITS_PER_S, "p95_limit_ms": P95_LIMIT_MS,
                                        "generator_limit": GENERATOR_LIMIT, "locust_processes": LOCUST_PROCESSES,
                                        "gunicorn": {"workers": workers, "threads": threads,
                                                     "worker_class": worker_class}})
            self.limit_row(engine, state, (workers, threads, worker_class))

    def limit_row(self, engine, state, shape):
        """The table's row of the one-machine limit of engine: the last good step, the first step beyond it and
        whose limit that was, against the goal."""
        sustained, beyond = state["good"], state["generator"] or state["bad"]
        figure = (f"one-machine limit, mixed scenario (19 members : 1 leader, think time 1–3 s; gunicorn {shape[0]} "
                  f"workers × {shape[1]} threads, locust {LOCUST_PROCESSES} processes): last step with p95 ≤ "
                  f"{P95_LIMIT_MS} ms and no errors")
        if beyond is None:
            after = f"; no step beyond it: the search stopped at its cap of {LIMIT_STEPS['cap']:,} users"
        else:
            whose = {"generator": "the load generator's limit", "machine": "the machine's limit (shared)",
                     "app": "the app's limit"}[beyond["verdict"]]
            after = (f"; first step beyond: {beyond['users']} users, {beyond['visits']['per_s']:.1f} visits/s, p95 "
                     f"{beyond['all']['p95'] or 0:.0f} ms, {beyond['all']['failures']} failed — {whose} "
                     f"({beyond['why']})")
        sweep = (f"goal {GOAL_VISITS_PER_S:.0f} visits/s = {SIZING['headroom']}× an emergency sweep's peak "
                 f"({SIZING['sweep_peak_visits_per_s']:.0f}/s)")
        if sustained:
            visits_per_s = sustained["visits"]["per_s"]
            per_visit = (sustained["app_cpu_s"] + sustained["database_cpu_s"]) / max(sustained["served_visits"], 1)
            self.table.add(figure, f"{sustained['users']} users, {sustained['all']['per_s']:.0f} requests/s, "
                           f"{visits_per_s:.1f} visits/s, p95 {sustained['all']['p95']:.0f} ms; CPU app "
                           f"{sustained['server_cpu_share']:.0%} + database {sustained['database_cpu_share']:.0%} + "
                           f"locust {sustained['locust_cpu_share']:.0%} of {os.cpu_count()} cores; "
                           f"{per_visit * 1000:.0f} ms of app and database CPU a visit with its pages (all "
                           f"{os.cpu_count()} cores' worth: {os.cpu_count() / per_visit:.0f} visits/s)" + after, sweep,
                           f"{visits_per_s / GOAL_VISITS_PER_S:.2f}× the goal, "
                           f"{visits_per_s / SIZING['sweep_peak_visits_per_s']:.1f}× the sweep's peak",
                           f"≥ {GOAL_VISITS_PER_S:.0f} visits/s at p95 ≤ {P95_LIMIT_MS} ms",
                           visits_per_s >= GOAL_VISITS_PER_S, engine=engine.name, key=f"limit {engine.name}")
        else:
            self.table.add(figure, f"no step held: {beyond['users'] if beyond else '?'} users already beyond" + after,
                           sweep, None, f"≥ {GOAL_VISITS_PER_S:.0f} visits/s at p95 ≤ {P95_LIMIT_MS} ms", False,
                           engine=engine.name, key=f"limit {engine.name}")

    # -- PostgreSQL ---------------------------------------------------------------------------------------------
    def app_servers(self, engine):
        """The mixed scenario on one and then on two gunicorn instances sharing the one PostgreSQL database, the
        same users split between them; from the database's CPU per request, what one of its cores carries."""
        sustained = self.results.get("limit", {}).get(engine.name, {}).get("sustained")
        users = sustained["users"] if sustained else (60 if self.quick else 100)
        window = 10 if self.quick else 20
        accounts_file = engine.sessions(*MIXED_ACCOUNTS)
        engine.serve()
        try:
            steps = []
            for count in (1, 2):
                steps.append(self.mixed(engine, [s.url for s in engine.servers[:count]], users, window, accounts_file))
                print(f"  {self.describe(steps[-1])}", flush=True)
        finally:
            engine.stop(keep=1)
        one, shape = steps[0]["all"], server_shape()
        for step in steps:
            every = step["all"]
            self.table.add(f"mixed scenario, {users} users on {step['servers']} gunicorn instance"
                           f"{'s' if step['servers'] > 1 else ''} ({shape[0]} workers × {shape[1]} threads each) "
                           "sharing one database",
                           f"{every['per_s']:.0f} requests/s, {step['visits']['per_s']:.1f} visits/s, p95 "
                           f"{every['p95']:.0f} ms, {every['failures']} failed; CPU of {os.cpu_count()} cores: app "
                           f"{step['server_cpu_share']:.0%}, database {step['database_cpu_share']:.0%}, locust "
                           f"{step['locust_cpu_share']:.0%}, all processes {step['machine_cpu_share']:.0%}",
                           "" if step is steps[0] else f"one instance {one['per_s']:.0f} requests/s, p95 "
                           f"{one['p95']:.0f} ms", None if step is steps[0] else
                           f"{every['per_s'] / one['per_s']:.2f}× the throughput", engine=engine.name,
                           key=f"app servers {step['servers']}")
        app_s, db_s = sum(s["app_cpu_s"] for s in steps), sum(s["database_cpu_s"] for s in steps)
        served, visits = sum(s["served"] for s in steps), sum(s["served_visits"] for s in steps)
        carried = {"app_cpu_ms_per_request": app_s / served * 1000, "database_cpu_ms_per_request": db_s / served * 1000,
                   "app_cpu_ms_per_visit": app_s / visits * 1000, "database_cpu_ms_per_visit": db_s / visits * 1000}
        carried["app_cores_per_database_core"] = app_s / db_s
        carried["visits_per_s_per_database_core"] = visits / db_s
        self.keep("app-servers", engine, {"steps": steps, "carried": carried})
        self.table.add("what one database core carries, mixed scenario (by CPU per request of both runs above)",
                       f"{1000 / carried['database_cpu_ms_per_request']:.0f} requests/s, "
                       f"{carried['visits_per_s_per_database_core']:.0f} visits/s with their pages "
                       f"({carried['database_cpu_ms_per_request']:.1f} ms of database CPU a request)",
                       f"one app core: {1000 / carried['app_cpu_ms_per_request']:.0f} requests/s "
                       f"({carried['app_cpu_ms_per_request']:.1f} ms a request)",
                       f"{carried['app_cores_per_database_core']:.1f} app cores per database core", engine=engine.name,
                       key="database core carries")

    # -- sections on SQLite ---------------------------------------------------------------------------------
    def map(self, engine):
        """The district's map data (admin): bytes per household gzipped, server time next to a static file."""
        _, account = open_session(engine.server.url, "admin")
        client = Http(engine.server.url, account["cookies"])
        status, body, first = client.get("/map/data.geojson")
        assert status == 200, f"map data answered {status}"
        households = json.loads(gzip.decompress(body))["households"]
        Path(self.folder, "district-map.json.gz").write_bytes(body)
        for _ in range(6):  # both workers build and cache it
            client.get("/map/data.geojson"), client.get("/bench/file/district-map.json.gz")
        served, static = [], []
        for _ in range(self.runs):
            served.append(client.get("/map/data.geojson")[2] * 1000)
            static.append(client.get("/bench/file/district-map.json.gz")[2] * 1000)
        per_household = len(body) / households
        p50, s50 = statistics.median(served), statistics.median(static)
        self.results["map"] = {"households": households, "gzip_bytes": len(body), "first_request_ms": first * 1000,
                               "p50_ms": p50, "p95_ms": percentile(served, 0.95), "static_p50_ms": s50,
                               "static_p95_ms": percentile(static, 0.95)}
        self.table.add(f"map data of the district ({households:,} households), gzipped bytes per household",
                       f"{per_household:.2f} B ({len(body) / 1024:.0f} KB)", "", None, "≤ 8 B", per_household <= 8,
                       key="map bytes")
        self.table.add("map data of the district, server time p50 (cached until the data changes; first, "
                       f"built: {first * 1000:.0f} ms)", f"{p50:.1f} ms",
                       f"the same bytes as a static file {s50:.1f} ms",
                       f"{p50 / s50:.2f}×", "≤ 2×", p50 / s50 <= 2, key="map time")

    def map_page(self, engine):
        """The map drawn in headless chromium next to an empty Leaflet page, for the admin and a grid leader."""
        from bench.map_bench import browser_figures

        leader = engine.leader
        figures = {}
        for username, label in (("admin", "district"), (leader, "one grid")):
            drawn, first, empty = browser_figures(engine.server.url, username, 5 if self.quick else 10)
            figures[username] = {"p50_ms": drawn, "first_ms": first, "empty_p50_ms": empty}
            self.table.add(f"map page drawn in headless chromium, {label} ({username}), p50 (first visit)",
                           f"{drawn:.0f} ms ({first:.0f} ms)", f"empty Leaflet page {empty:.0f} ms",
                           f"{drawn / empty:.1f}× ({first / empty:.1f}×)", "≤ 3× (≤ 5×)",
                           drawn / empty <= 3 and first / empty <= 5, key=f"map page {label}")
        self.results["map_page"] = figures

    def lighthouse(self, engine):
        """Lighthouse scores of three pages, mobile emulation (bench/lighthouse_bench.py)."""
        from bench import lighthouse_bench

        arguments = (engine.server.url, engine.member, engine.leader)
        try:
            found = lighthouse_bench.measure(*arguments, runs=1 if self.quick else 2)
        except lighthouse_bench.LighthouseError as error:  # e.g. NO_NAVSTART: a failed trace, not a verdict
            print(f"  Lighthouse failed ({error}); once more", flush=True)
            found = lighthouse_bench.measure(*arguments, runs=1 if self.quick else 2)
        self.results["lighthouse"] = found
        if "skipped" in found:
            self.table.add("Lighthouse 12.2.3", f"skipped: {found['skipped']}", key="lighthouse")
            return
        print(lighthouse_bench.table(found))
        for page, scores in found["pages"].items():
            values = [scores.get(k) for k in ("performance", "accessibility", "best-practices")]
            top = "; ".join(f"{o['title']} ({o['savings_ms']} ms)" if o["savings_ms"] else o["title"]
                            for o in scores["opportunities"][:2])
            self.table.add(f"Lighthouse 12.2.3, {page} (mobile, simulated throttling): performance / accessibility / "
                           "best practices", " / ".join(str(v) for v in values) + (f"; top: {top}" if top else ""),
                           "", None, "≥ 95 each", all(v is not None and v >= 95 for v in values),
                           key=f"lighthouse {page}")

    def coverage(self, engine):
        """Coverage and overdue for the district next to the same aggregates as raw SQL."""
        from bench.coverage_bench import measure

        found = measure(engine.database(), runs=5 if self.quick else 9, exports=False)
        self.results["coverage"] = found
        for key, label in (("coverage", "coverage checklist of the district (/coverage/)"),
                           ("overdue", "overdue view of the district (/overdue/)")):
            served, direct = found[key]["server_s"] * 1000, found[key]["sql_s"] * 1000
            self.table.add(f"{label}, p50", f"{served:.0f} ms", f"raw SQL in sqlite3 {direct:.0f} ms",
                           f"{served / direct:.2f}×", "≤ 1.5×", served / direct <= 1.5, key=key)

    def imports(self, engine):
        """The import of the district's households (CSV) next to a bare sqlite-utils insert of the same rows, and
        the same rows from an .xlsx workbook next to their CSV import."""
        from bench import import_bench

        files = import_bench.from_source(big_database(self.args.households), self.args.households)
        cases = import_bench.run(files, with_xlsx=True, residents=not self.quick)
        self.results["import"] = cases
        for case in cases:
            people = f", {case['residents']:,} residents" if case["residents"] else ""
            csv_case = import_bench.same_rows_from_csv(case, cases)
            if csv_case:
                ratio = case["import_s"] / csv_case["import_s"]
                self.table.add(f"import of {case['households']:,} {case['rows']} (.xlsx{people})",
                               f"{case['import_s']:.1f} s", f"the same rows from CSV {csv_case['import_s']:.1f} s",
                               f"{ratio:.1f}×", "≤ 2× the CSV import", ratio <= 2, key=f"import {case['label']}")
                continue
            ratio = case["import_s"] / case["bare_s"]
            self.table.add(f"import of {case['households']:,} {case['label']} (CSV{people})",
                           f"{case['import_s']:.1f} s", f"bare sqlite-utils insert_all {case['bare_s']:.1f} s",
                           f"{ratio:.1f}×", "≤ 3×", ratio <= 3, key=f"import {case['label']}")

    def bytes(self, engine):
        """A member's first and repeat load, bytes on the wire (in chromium)."""
        from bench.pwa_bench import measure

        found = measure(engine.database())
        self.results["bytes"] = found
        first, repeat = found["first_bytes"] / 1024, found["repeat_bytes"] / 1024
        self.table.add(f"a member's first load ({found['households']} households: sign-in, list, app shell)",
                       f"{first:.0f} KB", "", None, "≤ 150 KB", first <= 150, key="first load")
        self.table.add("repeat load of the list, service worker warm", f"{repeat:.1f} KB", "", None, "≤ 10 KB",
                       repeat <= 10, key="repeat load")
        self.table.add("offline copy (list, household pages, visit forms)",
                       f"{found['offline_pages']} pages, {found['offline_bytes'] / 2**20:.2f} MB", key="offline copy")




def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 households, shorter windows (about 2 minutes)")
    parser.add_argument("--households", type=int)
    parser.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated engines of the sections measured on each: " + ",".join(ENGINES))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    args = parser.parse_args()
    args.households = args.households or (10_000 if args.quick else 100_000)
    args.engines = [e.strip().lower() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in args.engines if e not in ENGINES] or ([] if args.engines else ["(none)"])
    if unknown:
        parser.error(f"--engines: unknown {', '.join(unknown)}; choose of {', '.join(ENGINES)}")
    unknown = [s for s in (args.only or "").split(",") if s and s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose of {', '.join(SECTIONS)}")
    wanted = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    started = time.perf_counter()
    missing = missing_tools()
    for tool in missing:
        if tool == "postgresql" and "postgresql" in args.engines:
            args.engines.remove("postgresql")
            print(f"NOTE: {INSTALL[tool]}; the figures are measured on SQLite alone", file=sys.stderr)
        elif tool != "postgresql":
            print(f"NOTE: {INSTALL[tool]}; these figures are skipped: "
                  + ", ".join(s for s in wanted if tool in NEEDS.get(s, ())), file=sys.stderr)
    about = machine()
    about["engines"] = list(args.engines)
    print(f"make bench: {args.households:,} households; {about['cores']} cores, {about['memory_mib']:,} MiB; load "
          f"average {about['load_average_at_start'][0]:.1f}; engines {', '.join(ENGINES[e] for e in args.engines)}; "
          f"SQLite {about['sqlite']}; {about['postgresql']}; {about['chromium']}; node {about['node']}", flush=True)
    table = Table()
    folder = tempfile.mkdtemp(prefix="fieldapp-bench-")
    bench = Bench(args, table, folder)
    skipped = {}
    try:
        for section in wanted:
            lacking = [tool for tool in NEEDS.get(section, ()) if tool in missing]
            engines = [e for e in RUNS_ON.get(section, ("sqlite",)) if e in args.engines]
            if not engines:
                lacking.append(f"it runs on {' or '.join(ENGINES[e] for e in RUNS_ON.get(section, ('sqlite',)))}, "
                               "which --engines leaves out")
            if lacking:
                skipped[section] = "; ".join(INSTALL.get(tool, tool) for tool in lacking)
                table.add(f"{section}: skipped", skipped[section], key=f"skipped {section}")
                continue
            if section not in SERVER_SECTIONS:
                bench.stop()
            print(f"[{section}]", flush=True)
            measure = getattr(bench, section.replace("-", "_").replace("import", "imports"))
            for names in [engines] if section in TOGETHER else [[name] for name in engines]:
                chosen, began = [bench.engines[name] for name in names], time.perf_counter()
                labels = " and ".join(engine.label for engine in chosen)
                try:
                    for engine in chosen if section in SERVER_SECTIONS else ():
                        engine.start()
                    measure(chosen) if section in TOGETHER else measure(chosen[0])
                except Exception as error:  # noqa: BLE001 - one broken section must not hide the others' figures
                    table.errors.append({"section": section, "engine": labels,
                                         "error": f"{type(error).__name__}: {error}"})
                    print(f"  {section} on {labels} FAILED: {type(error).__name__}: {error}", file=sys.stderr,
                          flush=True)
                print(f"  ({labels}: {time.perf_counter() - began:.0f} s)", flush=True)
    finally:
        cluster = bench.engines.get("postgresql") and bench.engines["postgresql"].cluster
        if cluster:
            about["postgresql_settings"] = cluster.settings()
        bench.close()
        shutil.rmtree(folder, ignore_errors=True)
    about["load_average_at_end"] = os.getloadavg()
    report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "households": args.households,
              "quick": args.quick, "machine": about, "seconds": round(time.perf_counter() - started),
              "figures": table.rows, "details": bench.results, "skipped": skipped, "errors": table.errors}
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    print()
    print(f"{args.households:,} households; {about['cores']} cores, {about['memory_mib']:,} MiB; "
          f"load average {about['load_average_at_start'][0]:.1f} at start, {about['load_average_at_end'][0]:.1f} "
          f"at end; {report['seconds']} s in all")
    print(table.markdown())
    side_by_side = table.side_by_side()
    if side_by_side:
        print()
        print(side_by_side)
    for error in table.errors:
        print(f"ERROR in {error['section']} ({error['engine']}): {error['error']}")
    print(f"written: {args.out}")
    return 1 if table.errors else 0


if __name__ == "__main__":
    sys.exit(main())
