"""Where PostgreSQL's CPU goes for a request: the statements of the member's list, a household page and a visit
POST on the 100,000-household demo, from pg_stat_statements, with their execution and planning time.

    .venv/bin/python bench/postgres_statements.py [--runs 50] [--households 100000] [--top 8]

The bench's own durable cluster (bench/postgres_server.py) with pg_stat_statements loaded, the demo restored from
bench/cache/, gunicorn with the repository's gunicorn.conf.py; each request is sent --runs times, one at a time,
and its statements are listed by time per request, most first.
"""
import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import postgres_server  # noqa: E402
from bench.common import new_visit  # noqa: E402
from bench.run import Http, open_session  # noqa: E402
from bench.server import Server  # noqa: E402
from bench.visit_loop_bench import member_near  # noqa: E402
from fieldapp.data import db as database  # noqa: E402

PAGE = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
STATEMENTS = """SELECT calls, total_exec_time AS exec_ms, total_plan_time AS plan_ms,
    left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query FROM pg_stat_statements
    WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time + total_plan_time DESC"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    postgres_server.SETTINGS.update({"shared_preload_libraries": "pg_stat_statements",
                                     "pg_stat_statements.track_planning": "on"})
    cluster, folder = postgres_server.Cluster(), tempfile.mkdtemp(prefix="fieldapp-bench-")
    server = None
    try:
        url = cluster.demo(args.households)
        db = database.connect(url)
        db.execute("CREATE EXTENSION pg_stat_statements")
        member, _ = member_near(db)
        household = database.scalar(db, """SELECT h.id FROM households h JOIN assignments a ON a.cell_id = h.cell_id
            JOIN users u ON u.id = a.user_id WHERE u.username = ? AND a.valid_to IS NULL
            ORDER BY (SELECT count(*) FROM visits v WHERE v.household_id = h.id) DESC, h.id LIMIT 1""", [member])
        server = Server(url, workers=2, threads=4, log_path=f"{folder}/gunicorn.log", app="fieldapp:create_app()",
                        env={"FIELDAPP_SECRET_KEY": "bench"})
        server.start(timeout=120)
        _, account = open_session(server.url, member)
        client = Http(server.url, account["cookies"])
        requests = {"my households": lambda: client.get("/households/", **PAGE),
                    "household page": lambda: client.get(f"/households/{household}", **PAGE),
                    "visit POST": lambda: client.post_json("/api/visits", {"visits": [new_visit(household)]},
                                                           **{"X-CSRFToken": account["csrf_token"]})}
        for name, send in requests.items():
            for _ in range(3):  # warm both workers
                send()
            db.execute("SELECT pg_stat_statements_reset()")
            for _ in range(args.runs):
                status = send()[0]
                assert status == 200, f"{name} answered {status}"
            found = database.rows(db, STATEMENTS)
            runs = args.runs
            calls, executing, planning = (sum(r[k] for r in found) / runs for k in ("calls", "exec_ms", "plan_ms"))
            print(f"{name}: {calls:.0f} statements a request, execution {executing:.2f} ms, planning {planning:.2f} ms")
            for row in found[:args.top]:
                print(f"  {row['calls'] / runs:4.1f}×  execution {row['exec_ms'] / runs:5.2f} ms  planning "
                      f"{row['plan_ms'] / runs:4.2f} ms  {row['query']}")
        db.close()
    finally:
        if server:
            server.stop()
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
