"""Locust scenarios of `make bench` (run by bench/run.py as `locust --headless`, one scenario per process).

BENCH_SCENARIO chooses the users:
- visits: members, signed in through the form, each POSTing one new visit after another to /api/visits
  (session, CSRF token, idempotency by uuid, durable commit), no think time;
- insert: the baseline, the same bodies POSTed to /bench/insert (one durable INSERT, nothing else);
- mixed: members doing their visit loop (list, household page, visit form, POST the visit) and grid leaders
  opening the map, its data, coverage and the ledger, with think times between pages.
Every user first signs in (not measured); once all have, the measurement window of BENCH_MEASURE seconds
starts, and at its end the run stops and writes what it saw, request by request name, to BENCH_OUT (JSON), with
how many requests of each name were answered in the whole run (ramp included).
BENCH_ACCOUNTS names a JSON file {"members": [account, ...], "leaders": [...]}, each account
{"username", "cookies", "domain", "csrf_token", "households"} of a session opened by bench/run.py.
"""
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

import gevent
from gevent.event import Event
from locust import FastHttpUser, between, constant, events, task
from requests.cookies import create_cookie

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import new_visit  # noqa: E402

SCENARIO = os.environ.get("BENCH_SCENARIO", "visits")
MEASURE = float(os.environ.get("BENCH_MEASURE", "20"))
ACCOUNTS = json.loads(open(os.environ["BENCH_ACCOUNTS"]).read()) if os.environ.get("BENCH_ACCOUNTS") else {}
PAGE = {"Accept-Encoding": "gzip", "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
THINK = (1.0, 3.0)  # seconds between a member's pages: a brisk member, far quicker than a real doorstep talk
# People do not all start in the same second: each user starts at a random moment of the ramp, and the
# window opens when the ramp is over (for the closed-loop scenarios the ramp only warms the connections).
RAMP = 8.0 if SCENARIO == "mixed" else 2.0

members = itertools.cycle(ACCOUNTS.get("members", []))
leaders = itertools.cycle(ACCOUNTS.get("leaders", []))
ready = Event()
window = {"start": None, "end": None, "signed_in": 0}
seen = {}  # request name -> {"times": [...], "failures": n, "errors": {message: n}}
served = {}  # request name -> how many were answered in the whole run: the server's CPU is read over all of them


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


@events.quitting.add_listener
def _write(environment, **_):
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w") as results:
            json.dump({"scenario": SCENARIO, "users": environment.parsed_options.num_users,
                       "window_s": MEASURE, "signed_in": window["signed_in"], "requests": seen, "served": served},
                      results)


def _signed_in(user):
    """Count a user in and wait for the others; the last one in schedules the window and the end of the run."""
    window["signed_in"] += 1
    if window["signed_in"] >= user.environment.parsed_options.num_users and not ready.is_set():
        window["start"] = time.time() + RAMP
        window["end"] = window["start"] + MEASURE
        ready.set()
        gevent.spawn_later(RAMP + MEASURE + 0.5, user.environment.runner.quit)
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

    def post_visit(self, household_id):
        """POST one new visit; anything but "created" is a failure."""
        body = {"visits": [new_visit(household_id, self.username)]}
        with self.client.post("/api/visits", json=body, name="/api/visits", catch_response=True,
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
        self.client.get("/households/", name="my households", headers=PAGE)
        gevent.sleep(random.uniform(*THINK))
        self.client.get(f"/households/{household}", name="household page", headers=PAGE)
        gevent.sleep(random.uniform(*THINK))
        self.client.get(f"/households/{household}/visits/new", name="visit form", headers=PAGE)
        gevent.sleep(random.uniform(*THINK))
        self.post_visit(household)


class Leader(SignedIn):
    """A grid leader looking at the map, coverage and the ledger of the grid."""
    abstract = SCENARIO != "mixed"
    accounts = leaders
    fixed_count = int(os.environ.get("BENCH_LEADERS", "1"))
    wait_time = between(2.0, 6.0)

    @task
    def look(self):
        self.client.get("/map/", name="map page", headers=PAGE)
        self.client.get("/map/data.geojson", name="map data", headers={"Accept-Encoding": "gzip"})
        gevent.sleep(random.uniform(2.0, 6.0))
        self.client.get("/coverage/", name="coverage", headers=PAGE)
        gevent.sleep(random.uniform(2.0, 6.0))
        self.client.get("/ledger/", name="ledger", headers=PAGE)


class Baseline(FastHttpUser):
    """The bare endpoint: one durable INSERT of the same body, no session, no checks."""
    abstract = SCENARIO != "insert"
    wait_time = constant(0)

    def on_start(self):
        _signed_in(self)

    @task
    def insert(self):
        item = new_visit(1, "baseline")
        self.client.post("/bench/insert", json={"visits": [item]}, name="/bench/insert",
                         headers={"X-Id": item["uuid"]})
