"""Locust scenarios of `make bench` (run by bench/run.py as `locust --headless`, one scenario per run).

BENCH_SCENARIO chooses the users:
- visits: members, signed in through the form, each POSTing one new visit after another to /api/visits
  (session, CSRF token, idempotency by uuid, durable commit), no think time;
- insert: the baseline, the same bodies POSTed to /bench/insert (one durable INSERT, nothing else);
- mixed: members doing their visit loop (list, household page, visit form, POST the visit) and grid leaders
  opening the map, its data, coverage and the ledger, with think times between pages.
Every user first signs in (not measured); once locust has started them all (the master's spawning_complete, which
it sends on to its workers under `--processes`), the measurement window of BENCH_MEASURE seconds opens after a
ramp. At its end each process waits for the requests begun in the window (up to DRAIN seconds; those still
unanswered count as failed) and writes what its users saw in the window, request by request name, to
BENCH_OUT-<role>-<pid>.json (role: local, master or worker), with how many requests of each name were answered
in the whole run (ramp included), its own CPU seconds over the window and how late its event loop woke up (the
load generator's own limit: a busy loop delays every request it times); then the run stops.
BENCH_ACCOUNTS names a JSON file {"members": [account, ...], "leaders": [...]}, each account
{"username", "cookies", "domain", "csrf_token", "households"} of a session opened by bench/run.py.
"""
import contextlib
import itertools
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import gevent
from gevent.event import Event
from locust import FastHttpUser, between, constant, events, task
from locust.runners import MasterRunner, WorkerRunner
from requests.cookies import create_cookie

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import new_visit  # noqa: E402

SCENARIO = os.environ.get("BENCH_SCENARIO", "visits")
MEASURE = float(os.environ.get("BENCH_MEASURE", "20"))
ACCOUNTS = json.loads(open(os.environ["BENCH_ACCOUNTS"]).read()) if os.environ.get("BENCH_ACCOUNTS") else {}
PAGE = {"Accept-Encoding": "gzip", "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
THINK = (1.0, 3.0)  # seconds between a member's pages: a brisk member, far quicker than a real doorstep talk
LEADER_THINK = (2.0, 6.0)  # seconds between a leader's pages
# People do not all start in the same second: each user starts at a random moment of the ramp, and the
# window opens when the ramp is over (for the closed-loop scenarios the ramp only warms the connections).
RAMP = 8.0 if SCENARIO == "mixed" else 2.0
DRAIN = 15.0

members = itertools.cycle(ACCOUNTS.get("members", []))
leaders = itertools.cycle(ACCOUNTS.get("leaders", []))
ready = Event()
window = {"start": None, "end": None, "signed_in": 0, "in_flight": 0, "unanswered": 0, "done": 0}
seen = {}  # request name -> {"times": [...], "failures": n, "errors": {message: n}}
served = {}  # request name -> how many were answered in the whole run: the server's CPU is read over all of them
generator = {"lag_ms": [], "cpu": {}}  # this process's event-loop lag in the window; its CPU at the window's ends
environment = None


def _cpu():
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


@events.init.add_listener
def _init(environment, **_):
    globals()["environment"] = environment
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("window", lambda msg, **_: _open_window(msg.data["start"]))
    elif isinstance(environment.runner, MasterRunner):
        environment.runner.register_message("done", lambda **_: _worker_done())


@events.spawning_complete.add_listener
def _all_started(user_count, **_):
    """On the master (or the only process): every user has been started; the window opens after the ramp, in
    every process at the same moment, and the run ends after it."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or window["start"] is not None:
        return
    start = time.time() + RAMP
    if isinstance(runner, MasterRunner):
        runner.send_message("window", {"start": start})
    _open_window(start)
    gevent.spawn_later(RAMP + MEASURE + DRAIN + 2, runner.quit)  # in case a worker never reports


def _worker_done():
    """The master stops the run once every worker has written its results."""
    window["done"] += 1
    if window["done"] >= len(environment.runner.clients.all):
        gevent.spawn_later(0.2, environment.runner.quit)


def _open_window(start):
    window["start"], window["end"] = start, start + MEASURE
    ready.set()
    gevent.spawn(_watch_loop)


def _watch_loop():
    """Sample this process's CPU at the window's ends and how late its event loop wakes from a 50-ms sleep; after
    the window, wait for its requests, write the results and end the run (or tell the master)."""
    gevent.sleep(max(0.0, window["start"] - time.time()))
    generator["cpu"]["start"] = (time.time(), _cpu())
    while time.time() < window["end"]:
        asleep = time.perf_counter()
        gevent.sleep(0.05)
        generator["lag_ms"].append((time.perf_counter() - asleep - 0.05) * 1000)
    generator["cpu"]["end"] = (time.time(), _cpu())
    while window["in_flight"] and time.time() < window["end"] + DRAIN:
        gevent.sleep(0.05)
    window["unanswered"] = window["in_flight"]
    _write()
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message("done")
    elif not isinstance(environment.runner, MasterRunner):
        environment.runner.quit()


@contextlib.contextmanager
def in_flight():
    """Around one request: counted while in flight if it starts in the window (the window's end waits for it)."""
    inside = window["start"] is not None and window["start"] <= time.time() < window["end"]
    window["in_flight"] += inside
    try:
        yield
    finally:
        window["in_flight"] -= inside


@events.request.add_listener
def _record(request_type, name, response_time, exception, start_time=None, **_):
    """Count every request; keep those that started inside the measurement window."""
    served[f"{request_type} {name}"] = served.get(f"{request_type} {name}", 0) + 1
    if window["start"] is None or start_time is None or not window["start"] <= start_time < window["end"]:
        return
    entry = seen.setdefault(f"{request_type} {name}", {"times": [], "failures": 0, "errors": {}})
    entry["times"].append(response_time)
    if exception:
        entry["failures"] += 1
        message = str(exception)[:200]
        entry["errors"][message] = entry["errors"].get(message, 0) + 1


def _write():
    out = os.environ.get("BENCH_OUT")
    if not out:
        return
    role = ("master" if isinstance(environment.runner, MasterRunner) else
            "worker" if isinstance(environment.runner, WorkerRunner) else "local")
    cpu = generator["cpu"]
    window_cpu = cpu["end"][1] - cpu["start"][1] if "end" in cpu and "start" in cpu else None
    window_wall = cpu["end"][0] - cpu["start"][0] if "end" in cpu and "start" in cpu else None
    with open(f"{out}-{role}-{os.getpid()}.json", "w") as results:
        json.dump({"scenario": SCENARIO, "role": role, "users": environment.parsed_options.num_users,
                   "window_s": MEASURE, "window": [window["start"], window["end"]], "signed_in": window["signed_in"],
                   "requests": seen, "served": served, "unanswered": window["unanswered"], "cpu_s": _cpu(),
                   "window_cpu_s": window_cpu,
                   "window_wall_s": window_wall, "loop_lag_ms": sorted(generator["lag_ms"])}, results)


def _signed_in(user):
    """Count a user in and wait for the window: each user starts at a random moment of the ramp."""
    window["signed_in"] += 1
    ready.wait()
    gevent.sleep(random.uniform(0, RAMP) if SCENARIO == "mixed" else 0)


class SignedIn(FastHttpUser):
    """A person whose session bench/run.py opened through the sign-in form beforehand (argon2 is slow on purpose:
    signing in hundreds of users would measure the sign-in, not the pages); users may share an account."""
    abstract = True
    accounts = members

    def on_start(self):
        account = next(self.accounts)
        self.username, self.token = account["username"], account["csrf_token"]
        self.households = account.get("households", [])
        for name, value in account["cookies"].items():
            self.client.cookiejar.set_cookie(create_cookie(name, value, domain=account["domain"]))
        _signed_in(self)

    def get(self, path, name, headers=PAGE):
        with in_flight():
            self.client.get(path, name=name, headers=headers)

    def post_visit(self, household_id):
        """POST one new visit; anything but "created" is a failure."""
        body = {"visits": [new_visit(household_id, self.username)]}
        with in_flight(), self.client.post("/api/visits", json=body, name="/api/visits", catch_response=True,
                              headers={"X-CSRFToken": self.token}) as answer:
            status = answer.status_code == 200 and answer.json()["results"][0]["status"]
            if status != "created":
                answer.failure(f"visit answered {answer.status_code} {status}")


class Member(SignedIn):
    """A member with the households of today's cells (from the offline manifest, as the phone has them)."""
    abstract = SCENARIO not in ("visits", "mixed")
    wait_time = constant(0) if SCENARIO == "visits" else between(*THINK)

    @task
    def visit(self):
        household = random.choice(self.households)
        if SCENARIO == "visits":
            return self.post_visit(household)
        self.get("/households/", "my households")
        gevent.sleep(random.uniform(*THINK))
        self.get(f"/households/{household}", "household page")
        gevent.sleep(random.uniform(*THINK))
        self.get(f"/households/{household}/visits/new", "visit form")
        gevent.sleep(random.uniform(*THINK))
        self.post_visit(household)


class Leader(SignedIn):
    """A grid leader looking at the map, coverage and the ledger of the grid."""
    abstract = SCENARIO != "mixed"
    accounts = leaders
    fixed_count = int(os.environ.get("BENCH_LEADERS", "1"))
    wait_time = between(*LEADER_THINK)

    @task
    def look(self):
        self.get("/map/", "map page")
        self.get("/map/data.geojson", "map data", {"Accept-Encoding": "gzip"})
        gevent.sleep(random.uniform(*LEADER_THINK))
        self.get("/coverage/", "coverage")
        gevent.sleep(random.uniform(*LEADER_THINK))
        self.get("/ledger/", "ledger")


class Baseline(FastHttpUser):
    """The bare endpoint: one durable INSERT of the same body, no session, no checks."""
    abstract = SCENARIO != "insert"
    wait_time = constant(0)

    def on_start(self):
        _signed_in(self)

    @task
    def insert(self):
        item = new_visit(1, "baseline")
        with in_flight():
            self.client.post("/bench/insert", json={"visits": [item]}, name="/bench/insert",
                             headers={"X-Id": item["uuid"]})
