"""`make bench`: every performance figure next to its baseline, measured in one run on this machine; one table
printed (Markdown) and bench/results.json written.

    .venv/bin/python bench/run.py [--quick] [--households N] [--only SECTION,...] [--out FILE]

The database is the demo of --households (100,000; --quick: 10,000) built once by `fieldapp demo` and cached in
bench/cache/; each run works on a copy. The real server is gunicorn with the repository's gunicorn.conf.py on
127.0.0.1, serving the app plus its baselines (bench/baseline.py) in the same processes. Load comes from locust
(headless, bench/locustfile.py). Sections: pages, map, map-page, visits, limit, lighthouse, coverage, import,
bytes. Without chromium or node the sections that need them say what to install and are skipped; the others run.
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

from bench.common import big_database  # noqa: E402
from bench.server import Server  # noqa: E402
from bench.visit_loop_bench import member_near  # noqa: E402
from fieldapp.data import db as database  # noqa: E402
from fieldapp.data.db import sqlite3  # noqa: E402  (the app's SQLite, from pysqlite3)

CHROMIUM = "/usr/bin/chromium"
SECTIONS = ("pages", "map", "map-page", "visits", "limit", "lighthouse", "coverage", "import", "bytes")
NEEDS = {"map-page": ("chromium",), "bytes": ("chromium",), "lighthouse": ("chromium", "node")}
INSTALL = {"chromium": f"{CHROMIUM} is missing: apt-get install chromium",
           "node": "node/npm are missing: apt-get install nodejs npm"}
# A sub-district's peak: 2,000 members, 40 visits each a day, peaks 20x the day's average rate.
PEAK = {"members": 2000, "visits_per_member_day": 40, "peak_factor": 20}
PEAK_VISITS_PER_S = PEAK["members"] * PEAK["visits_per_member_day"] / 86400 * PEAK["peak_factor"]


class Table:
    """The rows of the report: figure, value, baseline, ratio, goal and whether it is met."""

    def __init__(self):
        self.rows, self.errors = [], []

    def add(self, figure, value, baseline="", ratio=None, goal="", met=None, **data):
        self.rows.append({"figure": figure, "value": value, "baseline": baseline, "ratio": ratio, "goal": goal,
                          "met": met, **data})
        mark = "" if met is None else (" (goal met)" if met else " (GOAL MISSED)")
        print(f"  {figure}: {value}" + (f" | baseline {baseline}" if baseline else "")
              + (f" | {ratio}" if ratio else "") + mark, flush=True)

    def markdown(self):
        lines = ["| figure | value | baseline in the same run | ratio | goal | met |", "|---|---|---|---|---|---|"]
        for row in self.rows:
            met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
            lines.append(f"| {row['figure']} | {row['value']} | {row['baseline']} | {row['ratio'] or ''} "
                         f"| {row['goal']} | {met} |")
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

    return {"cores": os.cpu_count(), "memory_mib": memory, "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
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
        SELECT u.username FROM users u WHERE u.role = ? AND u.active AND EXISTS (
          SELECT 1 FROM assignments a WHERE a.user_id = u.id AND a.valid_to IS NULL) ORDER BY u.id LIMIT ?""",
        [role, limit])] for role, limit in (("member", members), ("leader", leaders))}
    if not names["leader"]:  # a leader holds a grid, not cells
        names["leader"] = [r["username"] for r in database.rows(
            db, "SELECT username FROM users WHERE role = 'leader' AND active ORDER BY id LIMIT ?", [leaders])]
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


def locust(url, scenario, users, measure, folder, accounts_file, leaders=1):
    """Run one locust scenario headless; what it saw in its measurement window, and its own CPU seconds."""
    out = Path(folder, f"locust-{scenario}-{users}.json")
    env = {**os.environ, "BENCH_SCENARIO": scenario, "BENCH_MEASURE": str(measure), "BENCH_OUT": str(out),
           "BENCH_ACCOUNTS": str(accounts_file), "BENCH_LEADERS": str(leaders)}
    started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--host", url,
         "-u", str(users), "-r", str(users), "-t", f"{int(measure) + 120}s", "--only-summary", "--loglevel", "ERROR",
         "--stop-timeout", "5"], env=env, capture_output=True, text=True, cwd=ROOT)
    if not out.exists():
        raise RuntimeError(f"locust {scenario} wrote nothing (exit {process.returncode}): {process.stderr[-2000:]}")
    seen = json.loads(out.read_text())
    seen["wall_s"] = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load generator's own CPU: it shares the machine
    seen["locust_cpu_s"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
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


class Bench:
    """One run of every section against one server and one copy of the database."""

    def __init__(self, args, table, folder):
        self.args, self.table, self.folder = args, table, folder
        self.quick = args.quick
        self.runs = 15 if self.quick else 40
        self.source = big_database(args.households)
        self.path = os.path.join(folder, "bench.db")
        shutil.copy(self.source, self.path)
        self.server = None
        self.results = {}

    # -- the server ---------------------------------------------------------------------------------------
    def start(self):
        self.server = Server(self.path, workers=2, threads=4, log_path=os.path.join(self.folder, "gunicorn.log"),
                             app="bench.baseline:create_app()", env={"FIELDAPP_BENCH_DIR": self.folder,
                                                                     "FIELDAPP_SECRET_KEY": "bench"})
        self.server.start(timeout=120)
        db = database.connect(self.path)
        self.member, self.member_households = member_near(db)
        self.household = database.scalar(db, """SELECT h.id FROM households h
            JOIN assignments a ON a.cell_id = h.cell_id JOIN users u ON u.id = a.user_id
            WHERE u.username = ? AND a.valid_to IS NULL
            ORDER BY (SELECT count(*) FROM visits v WHERE v.household_id = h.id) DESC LIMIT 1""", [self.member])
        db.close()

    def stop(self):
        if self.server:
            self.server.stop()
            self.server = None

    def cpu_seconds(self):
        """CPU seconds used so far by gunicorn's master and workers."""
        import psutil

        total = 0.0
        for pid in self.server.pids():
            try:
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def memory_mib(self):
        import psutil

        return sum(psutil.Process(pid).memory_info().rss for pid in self.server.pids()) / 2**20

    # -- sections -----------------------------------------------------------------------------------------
    def pages(self):
        """The member's list and a household page next to a bare page of the same bytes, over HTTP."""
        _, account = open_session(self.server.url, self.member)
        client = Http(self.server.url, account["cookies"])
        page = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
        figures = {}
        for name, url in (("my households", "/households/"), ("household page", f"/households/{self.household}")):
            status, html, _ = client.get(url, encoding="identity", **page)
            assert status == 200, f"{url} answered {status}"
            file = re.sub(r"\W", "-", name) + ".html"
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
            label = (f'"{name}" ({self.member_households} households)' if name == "my households"
                     else "household page")
            self.table.add(f"{label}, p50 / p95 over HTTP, {len(html) // 1024} KB of HTML",
                           f"{p50:.1f} / {p95:.1f} ms", f"bare page of the same bytes {b50:.1f} / {b95:.1f} ms",
                           f"{p50 / b50:.1f}× / {p95 / b95:.1f}×", "≤ 3×", max(p50 / b50, p95 / b95) <= 3,
                           key=f"page {name}", data=figures[name])
        self.results["pages"] = figures

    def map(self):
        """The district's map data (admin): bytes per household gzipped, server time next to a static file."""
        _, account = open_session(self.server.url, "admin")
        client = Http(self.server.url, account["cookies"])
        status, body, first = client.get("/map/data.geojson")
        assert status == 200, f"map data answered {status}"
        households = json.loads(gzip.decompress(body))["households"]
        Path(self.folder, "district.geojson.gz").write_bytes(body)
        for _ in range(6):  # both workers build and cache it
            client.get("/map/data.geojson"), client.get("/bench/file/district.geojson.gz")
        served, static = [], []
        for _ in range(self.runs):
            served.append(client.get("/map/data.geojson")[2] * 1000)
            static.append(client.get("/bench/file/district.geojson.gz")[2] * 1000)
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

    def map_page(self):
        """The map drawn in headless chromium next to an empty Leaflet page, for the admin and a grid leader."""
        from bench.map_bench import browser_figures

        leader = self.leader_name()
        figures = {}
        for username, label in (("admin", "district"), (leader, "one grid")):
            drawn, first, empty = browser_figures(self.server.url, username, 5 if self.quick else 10)
            figures[username] = {"p50_ms": drawn, "first_ms": first, "empty_p50_ms": empty}
            self.table.add(f"map page drawn in headless chromium, {label} ({username}), p50 (first visit)",
                           f"{drawn:.0f} ms ({first:.0f} ms)", f"empty Leaflet page {empty:.0f} ms",
                           f"{drawn / empty:.1f}×", "≤ 3×", drawn / empty <= 3, key=f"map page {label}")
        self.results["map_page"] = figures

    def leader_name(self):
        db = database.connect(self.path)
        name = database.scalar(db, "SELECT username FROM users WHERE role = 'leader' AND active ORDER BY id LIMIT 1")
        db.close()
        return name

    def sessions(self, members, leaders):
        """A file of signed-in accounts for locust."""
        path = Path(self.folder, f"accounts-{members}-{leaders}.json")
        if not path.exists():
            path.write_text(json.dumps(accounts(self.server.url, self.path, members, leaders)))
        return path

    def visits(self):
        """Visit POSTs at 50 concurrent clients next to a bare durable INSERT, same server."""
        window = 10 if self.quick else 20
        users = 50
        accounts_file = self.sessions(50, 5)
        figures = {}
        for scenario, name in (("visits", "POST /api/visits"), ("insert", "POST /bench/insert")):
            cpu = self.cpu_seconds()
            seen = locust(self.server.url, scenario, users, window, self.folder, accounts_file)
            figures[scenario] = {**summary(seen, [name]), "server_cpu_s": self.cpu_seconds() - cpu}
        app, bare = figures["visits"], figures["insert"]
        self.results["visits"] = figures
        share = app["per_s"] / bare["per_s"] if bare["per_s"] else 0
        errors = app["failures"] + bare["failures"]
        self.table.add(f"visit POST at {users} concurrent clients (session, CSRF, idempotency, durable commit): "
                       "visits/s, p95", f"{app['per_s']:.0f}/s, p95 {app['p95']:.0f} ms"
                       + (f", {app['failures']} failed" if app["failures"] else ""),
                       f"bare durable INSERT {bare['per_s']:.0f}/s, p95 {bare['p95']:.0f} ms",
                       f"{share:.0%} of the throughput", "≥ 50 %", share >= 0.5 and not errors, key="visit post")

    def limit(self):
        """The mixed scenario raised step by step until p95 > 300 ms or errors appear."""
        steps = [20, 60, 120] if self.quick else [25, 50, 100, 150, 175, 200, 250, 300, 400]
        window = 10 if self.quick else 20
        accounts_file = self.sessions(60, 10)
        figures, sustained = [], None
        for users in steps:
            leaders = max(1, users // 20)
            cpu, started, machine_cpu = self.cpu_seconds(), time.perf_counter(), busy_seconds()
            seen = locust(self.server.url, "mixed", users, window, self.folder, accounts_file, leaders)
            elapsed = time.perf_counter() - started
            step = {"users": users, "leaders": leaders, "all": summary(seen),
                    "visits": summary(seen, ["POST /api/visits"]),
                    "per_request": {name: summary(seen, [name]) for name in seen["requests"]},
                    "server_cpu_share": (self.cpu_seconds() - cpu) / elapsed / os.cpu_count(),
                    "locust_cpu_share": seen["locust_cpu_s"] / elapsed / os.cpu_count(),
                    "machine_cpu_share": (busy_seconds() - machine_cpu) / elapsed / os.cpu_count(),
                    "server_rss_mib": self.memory_mib(), "load_average": os.getloadavg()[0]}
            figures.append(step)
            every = step["all"]
            print(f"  step {users} users ({leaders} leaders): {every['per_s']:.0f} requests/s, "
                  f"{step['visits']['per_s']:.1f} visits/s, p95 {every['p95']:.0f} ms, {every['failures']} failed; "
                  f"CPU of {os.cpu_count()} cores: server {step['server_cpu_share']:.0%}, "
                  f"locust {step['locust_cpu_share']:.0%}, all processes {step['machine_cpu_share']:.0%}; "
                  f"server {step['server_rss_mib']:.0f} MiB",
                  flush=True)
            if every["p95"] is None or every["p95"] > 300 or every["failures"]:
                break
            sustained = step
        self.results["limit"] = {"steps": figures, "sustained": sustained, "peak": PEAK,
                                 "peak_visits_per_s": PEAK_VISITS_PER_S}
        if sustained:
            visits_per_s = sustained["visits"]["per_s"]
            self.table.add("one-machine limit, mixed scenario (19 members : 1 leader, think time 1–3 s): last step "
                           "with p95 ≤ 300 ms and no errors",
                           f"{sustained['users']} users, {sustained['all']['per_s']:.0f} requests/s, "
                           f"{visits_per_s:.1f} visits/s, p95 {sustained['all']['p95']:.0f} ms",
                           f"a sub-district's peak {PEAK_VISITS_PER_S:.1f} visits/s",
                           f"{visits_per_s / PEAK_VISITS_PER_S:.2f}× headroom", "", None, key="limit")
        else:
            self.table.add("one-machine limit, mixed scenario", f"p95 > 300 ms already at {steps[0]} users", "", None,
                           "", None, key="limit")

    def lighthouse(self):
        """Lighthouse scores of three pages, mobile emulation (bench/lighthouse_bench.py)."""
        from bench import lighthouse_bench

        arguments = (self.server.url, self.member, self.leader_name())
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

    def coverage(self):
        """Coverage and overdue for the district next to the same aggregates as raw SQL."""
        from bench.coverage_bench import measure

        found = measure(self.path, runs=5 if self.quick else 9, exports=False)
        self.results["coverage"] = found
        for key, label in (("coverage", "coverage checklist of the district (/coverage/)"),
                           ("overdue", "overdue view of the district (/overdue/)")):
            served, direct = found[key]["server_s"] * 1000, found[key]["sql_s"] * 1000
            self.table.add(f"{label}, p50", f"{served:.0f} ms", f"raw SQL in sqlite3 {direct:.0f} ms",
                           f"{served / direct:.2f}×", "≤ 1.5×", served / direct <= 1.5, key=key)

    def imports(self):
        """The import of the district's households (CSV) next to a bare sqlite-utils insert of the same rows."""
        from bench import import_bench

        files = import_bench.from_source(self.source, self.args.households)
        cases = import_bench.run(files, residents=not self.quick)
        self.results["import"] = cases
        for case in cases:
            ratio = case["import_s"] / case["bare_s"]
            self.table.add(f"import of {case['households']:,} {case['label']} (CSV"
                           + (f", {case['residents']:,} residents" if case["residents"] else "") + ")",
                           f"{case['import_s']:.1f} s", f"bare sqlite-utils insert_all {case['bare_s']:.1f} s",
                           f"{ratio:.1f}×", "≤ 3×", ratio <= 3, key=f"import {case['label']}")

    def bytes(self):
        """A member's first and repeat load, bytes on the wire (in chromium)."""
        from bench.pwa_bench import measure

        found = measure(self.path)
        self.results["bytes"] = found
        first, repeat = found["first_bytes"] / 1024, found["repeat_bytes"] / 1024
        self.table.add(f"a member's first load ({found['households']} households: sign-in, list, app shell)",
                       f"{first:.0f} KB", "", None, "≤ 150 KB", first <= 150, key="first load")
        self.table.add("repeat load of the list, service worker warm", f"{repeat:.1f} KB", "", None, "≤ 10 KB",
                       repeat <= 10, key="repeat load")
        self.table.add("offline copy (list, household pages, visit forms)",
                       f"{found['offline_pages']} pages, {found['offline_bytes'] / 2**20:.2f} MB", key="offline copy")


SERVER_SECTIONS = ("pages", "map", "map-page", "visits", "limit", "lighthouse")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 households, shorter windows (about 2 minutes)")
    parser.add_argument("--households", type=int)
    parser.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    args = parser.parse_args()
    args.households = args.households or (10_000 if args.quick else 100_000)
    wanted = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    started = time.perf_counter()
    missing = missing_tools()
    for tool in missing:
        print(f"NOTE: {INSTALL[tool]}; these figures are skipped: "
              + ", ".join(s for s in wanted if tool in NEEDS.get(s, ())), file=sys.stderr)
    about = machine()
    print(f"make bench: {args.households:,} households; {about['cores']} cores, {about['memory_mib']:,} MiB; load "
          f"average {about['load_average_at_start'][0]:.1f}; SQLite {about['sqlite']}; {about['chromium']}; "
          f"node {about['node']}", flush=True)
    table = Table()
    folder = tempfile.mkdtemp(prefix="fieldapp-bench-")
    bench = Bench(args, table, folder)
    skipped = {}
    try:
        for section in wanted:
            lacking = [tool for tool in NEEDS.get(section, ()) if tool in missing]
            if lacking:
                skipped[section] = "; ".join(INSTALL[tool] for tool in lacking)
                table.add(f"{section}: skipped", skipped[section], key=f"skipped {section}")
                continue
            if section in SERVER_SECTIONS and bench.server is None:
                bench.start()
            if section not in SERVER_SECTIONS:
                bench.stop()
            print(f"[{section}]", flush=True)
            began = time.perf_counter()
            try:
                getattr(bench, section.replace("-", "_").replace("import", "imports"))()
            except Exception as error:  # noqa: BLE001 - one broken section must not hide the others' figures
                table.errors.append({"section": section, "error": f"{type(error).__name__}: {error}"})
                print(f"  {section} FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    finally:
        bench.stop()
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
    for error in table.errors:
        print(f"ERROR in {error['section']}: {error['error']}")
    print(f"written: {args.out}")
    return 1 if table.errors else 0


if __name__ == "__main__":
    sys.exit(main())
