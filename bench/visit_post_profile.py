"""Where a visit POST's time goes, in the process: the Flask test client POSTs new visits to /api/visits of a
member of the demo next to the bare durable INSERT (/bench/insert), counts the statements (and the round trips
on PostgreSQL) of each, and profiles the visit POST by part.

    .venv/bin/python bench/visit_post_profile.py DATABASE [--runs 300]

DATABASE is a SQLite file (work on a copy: visits are added) or a postgresql:// URL of a restored demo.
"""
import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baseline import add_baselines  # noqa: E402
from bench.common import new_visit, signed_in_client  # noqa: E402
from bench.visit_loop_bench import member_near  # noqa: E402
from fieldapp import create_app  # noqa: E402
from fieldapp.data import db as database  # noqa: E402

# The parts of a visit POST, each the cumulative time of the function named (file suffix, function name).
PARTS = {
    "session cookie read": ("flask/sessions.py", "open_session"),
    "user loading (user_loader)": ("fieldapp/auth.py", "load_user"),
    "session limits": ("fieldapp/security.py", "enforce_session_limits"),
    "body limit, origin, NUL": [("fieldapp/security.py", "limit_body"), ("fieldapp/security.py", "check_origin"),
                                ("fieldapp/security.py", "refuse_nul")],
    "CSRF": ("flask_wtf/csrf.py", "protect"),
    "household + scope": [("fieldapp/data/households.py", "get"), ("fieldapp/access.py", "cell_scope")],
    "follow-ups' scope": ("fieldapp/data/security.py", "foreign_request_ids"),
    "idempotency lookup (by_uuid)": ("fieldapp/data/visits.py", "by_uuid"),
    "payload digest": ("fieldapp/visitform.py", "payload_digest"),
    "parse_visit (+ its reads)": [("fieldapp/visitform.py", "parse_visit"), ("fieldapp/data/register.py", "residents"),
                                  ("fieldapp/data/requests.py", "followable_for_household"),
                                  ("fieldapp/data/requests.py", "categories")],
    "record (insert, status, commit)": [("fieldapp/data/register.py", "record_visit"), ("fieldapp/data/visits.py", "record")],
    "answer (url_for, jsonify)": [("fieldapp/api.py", "_answer"), ("flask/json/__init__.py", "jsonify")],
    "session cookie write": ("flask/sessions.py", "save_session"),
    "after-request hooks": ("flask/app.py", "process_response"),
    "connection out / back": [("fieldapp/db.py", "get_db"), ("fieldapp/db.py", "close_db")],
}


class Statements:
    """Counts the statements sent to the database (and on PostgreSQL every round trip, the pool's checks
    included) while on."""

    def __init__(self, target):
        self.seen, self.on = Counter(), False
        if database.is_postgres(target):
            import psycopg

            self._patch(psycopg.Cursor, "execute")  # Connection.execute runs one too
        else:
            self._patch(database.SQLiteDatabase, "execute")
            self._patch(database.SQLiteDatabase, "query")

    def _patch(self, cls, name):
        original, counter = getattr(cls, name), self

        def counted(self, sql, *args, **kwargs):
            if counter.on:
                counter.seen[" ".join(str(sql).split())[:90]] += 1
            return original(self, sql, *args, **kwargs)
        setattr(cls, name, counted)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--top", action="store_true", help="also print the 40 functions of most own time")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="fieldapp-visit-profile-")
    app = add_baselines(create_app({"DATABASE": args.database, "SECRET_KEY": "bench"}), folder)
    counting = Statements(args.database)
    db = database.connect(args.database)
    username, _count = member_near(db)
    households = [r["id"] for r in database.rows(db, """SELECT h.id FROM households h JOIN assignments a
        ON a.cell_id = h.cell_id JOIN users u ON u.id = a.user_id WHERE u.username = ? AND a.valid_to IS NULL
        ORDER BY h.id""", [username])]
    db.close()
    client = signed_in_client(app, username)
    token = client.get("/api/session").get_json()["csrf_token"]
    number = iter(range(10**9))

    def visit():
        answer = client.post("/api/visits", json={"visits": [new_visit(households[next(number) % len(households)])]},
                             headers={"X-CSRFToken": token})
        assert answer.status_code == 200 and answer.get_json()["results"][0]["status"] == "created", answer.data
        return answer

    anonymous = app.test_client()  # the baseline's clients carry no session, as in bench/locustfile.py

    def insert():
        item = new_visit(1, "baseline")
        answer = anonymous.post("/bench/insert", data=json.dumps({"visits": [item]}),
                             headers={"X-Id": item["uuid"], "Content-Type": "application/json"})
        assert answer.status_code == 201
        return answer

    for name, call in (("visit POST", visit), ("bare INSERT", insert)):
        for _ in range(5):
            call()
        counting.seen.clear()
        counting.on = True
        call()
        counting.on = False
        print(f"{name}: {sum(counting.seen.values())} statements")
        for sql, calls in counting.seen.most_common():
            print(f"  {calls}x {sql}")
    timed = {}
    for _round in range(2):  # alternate, so that the machine's load falls on both alike
        for name, call in (("visit POST", visit), ("bare INSERT", insert)):
            started = time.process_time()
            for _ in range(args.runs // 2):
                call()
            timed[name] = timed.get(name, 0) + (time.process_time() - started)
    per = {name: seconds / (args.runs // 2 * 2) * 1000 for name, seconds in timed.items()}
    print(f"CPU of this process per request: visit POST {per['visit POST']:.2f} ms, bare INSERT "
          f"{per['bare INSERT']:.2f} ms: the INSERT is {per['bare INSERT'] / per['visit POST']:.0%} of a visit")
    profile = cProfile.Profile(time.process_time)  # CPU time: a shared machine's waits are not the request's
    profile.enable()
    for _ in range(args.runs):
        visit()
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.values()) / args.runs * 1000
    print(f"profiled visit POST: {total:.2f} ms of CPU a request (under cProfile); cumulative CPU ms by part:")
    for part, wanted in PARTS.items():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        found = [ct for (file, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.items()
                 for suffix, name in wanted if file.endswith(suffix) and function == name]
        # The record: register.record_visit around visits.record, or visits.record alone.
        found = max(found, default=0) if part.startswith("record") else sum(found)
        print(f"  {part:<34} {found / args.runs * 1000:6.2f}")
    if args.top:
        pstats.Stats(profile).sort_stats("tottime").print_stats(40)
        pstats.Stats(profile).sort_stats("cumulative").print_callees("process_response|preprocess_request")


if __name__ == "__main__":
    main()
