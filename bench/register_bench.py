"""Server time of a register change sent by a phone (a resident's new phone number, on its own in the sync batch)
on the 100,000-household demo, next to the visit POST of the same member and a bare durable INSERT of the same
body, served by the same app in the same process.

    .venv/bin/python bench/register_bench.py [--runs 200] [--engine sqlite|postgresql] [--households N]

Each change applies (the number alternates between two values, its `before` the one the register holds), so it is
checked, compared with the register, applied, recorded and audited every time, as a member's would be.
"""
import argparse
import json
import os
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import request  # noqa: E402

from bench import baseline, postgres_server  # noqa: E402
from bench.common import big_database, new_visit, signed_in_client, timings  # noqa: E402
from bench.visit_loop_bench import member_near  # noqa: E402
from fieldapp import create_app, rules  # noqa: E402
from fieldapp.data import db as database  # noqa: E402

NUMBERS = ("13900001111", "13900002222")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--households", type=int, default=100_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="fieldapp-bench-")
    cluster = None
    if args.engine == "postgresql":
        cluster = postgres_server.Cluster()
        target = cluster.demo(args.households)
        bare_insert = baseline.postgres_insert(target)
    else:
        target = os.path.join(folder, "demo.db")
        with open(big_database(args.households), "rb") as source, open(target, "wb") as copy:
            copy.write(source.read())  # a copy: the changes made here stay out of the cached demo
        bare_insert = baseline.sqlite_insert(folder)
    try:
        run(args, target, bare_insert)
    finally:
        if cluster is not None:
            cluster.stop()


def run(args, target, bare_insert):
    app = create_app({"DATABASE": target, "SECRET_KEY": "bench"})

    def bare():
        body = request.get_data(as_text=True)
        bare_insert(json.loads(body)["changes"][0]["uuid"], body)
        return "", 204
    app.add_url_rule("/bench/insert", "bench_insert", bare, methods=["POST"])
    app.extensions["csrf"].exempt(bare)  # as bare as the baseline of make bench: no sign-in, no CSRF
    db = database.connect(target)
    username, count = member_near(db)
    resident = database.one(db, """SELECT r.id, r.household_id FROM residents r JOIN households h ON h.id = r.household_id
        JOIN assignments a ON a.cell_id = h.cell_id JOIN users u ON u.id = a.user_id
        WHERE u.username = ? AND a.valid_to IS NULL AND r.moved_out_at IS NULL AND h.retired_at IS NULL
        ORDER BY r.id LIMIT 1""", [username])
    db.execute("UPDATE residents SET phone = ? WHERE id = ?", [NUMBERS[0], resident["id"]])
    client = signed_in_client(app, username)
    token = client.get("/api/session").get_json()["csrf_token"]
    headers = {"X-CSRFToken": token}
    sent = {"n": 0}

    def change_body(applies=True):
        sent["n"] += applies
        before, after = NUMBERS[sent["n"] % 2 == 0], NUMBERS[sent["n"] % 2]
        return {"changes": [{
            "uuid": str(uuid.uuid4()), "kind": "resident_corrected", "household_id": resident["household_id"],
            "resident_id": resident["id"], "field": "phone", "before": rules.mask_phone(before), "after": after,
            "reason": "换了号码", "made_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}]}

    def change():
        answer = client.post("/api/visits", json=change_body(), headers=headers)
        assert answer.status_code == 200 and answer.get_json()["changes"][0]["status"] == "created", answer.get_json()

    def visit():
        answer = client.post("/api/visits", json={"visits": [new_visit(resident["household_id"])]}, headers=headers)
        assert answer.get_json()["results"][0]["status"] == "created", answer.get_json()

    def insert():
        assert client.post("/bench/insert", json=change_body(applies=False)).status_code == 204

    print(f"{args.engine}, {args.households} households; member {username} with {count} households; "
          f"{args.runs} runs each; load average {os.getloadavg()[0]:.2f}; server time in ms")
    print(f"{'request':<24} {'p50':>8} {'p95':>8} {'/ bare p50':>11}")
    figures = {name: timings(call, args.runs) for name, call in
               (("bare durable INSERT", insert), ("visit POST", visit), ("register-change POST", change))}
    bare_p50 = figures["bare durable INSERT"][0]
    for name, (p50, p95) in figures.items():
        print(f"{name:<24} {p50:>8.2f} {p95:>8.2f} {p50 / bare_p50:>10.1f}x")
    applied = database.scalar(db, "SELECT count(*) FROM register_changes WHERE resident_id = ? AND state = 'applied'",
                              [resident["id"]])
    print(f"changes applied to the resident: {applied} (each run applies one)")


if __name__ == "__main__":
    main()
