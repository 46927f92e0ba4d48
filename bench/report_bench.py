"""Residents' reports on the big demo: the public report POST and the tracking page, each next to its baseline
measured in the same run, in turns.

Usage: .venv/bin/python bench/report_bench.py [--runs 50] [--engine sqlite|postgresql] [--households 100000]

SQLite: a copy of the cached demo (bench/common.big_database; FIELDAPP_BENCH_DB names another file). PostgreSQL: a
cluster of the bench's own with the demo restored into it (bench/postgres_server.py). One building of the demo gets
a QR poster; over the Flask test client (no sign-in, a fresh browser's session cookie and CSRF token):
- POST /r/<token>: a report (the throttle's look-ups, the request, its event, its tracking code, the throttle's
  row, one transaction) next to the bare durable INSERT of the same body (bench/baseline.py POST /bench/insert);
- GET /t/<code>: the tracking page next to a bare page of the same bytes (GET /bench/bare/<name>).
The throttle's limits are lifted for the run (every report comes from one address).
"""
import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.baseline import add_baselines  # noqa: E402
from bench.common import on_demo  # noqa: E402
from bench.review import compared  # noqa: E402
from fieldapp import create_app, rules  # noqa: E402
from fieldapp.data import db as database  # noqa: E402
from fieldapp.data import reports  # noqa: E402

DESCRIPTION = "3号楼2单元楼道灯坏了，晚上看不见台阶，老人上下楼很危险，请尽快修理。"


def measure(target, runs):
    """The figures for the database target (a SQLite path or a PostgreSQL URL), as a dict."""
    folder = tempfile.mkdtemp(prefix="fieldapp-bench-reports-")
    app = add_baselines(create_app({"DATABASE": target, "SECRET_KEY": "bench"}), folder)
    app.config["REPORT_LIMITS"] = {"per_address": 10 ** 9, "per_place": 10 ** 9}
    db = database.connect(target)
    admin = database.scalar(db, "SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
    building = database.one(db, "SELECT b.id, b.name, count(h.id) AS households FROM buildings b "
                                "JOIN households h ON h.building_id = b.id GROUP BY b.id, b.name "
                                "ORDER BY count(h.id) DESC, b.id LIMIT 1")
    token = reports.replace_token(db, "building", building["id"], user_id=admin, at=rules.iso(rules.utcnow()))
    figures = {"engine": db.dialect.name, "runs": runs,
               "households": database.scalar(db, "SELECT count(*) FROM households"),
               "requests": database.scalar(db, "SELECT count(*) FROM requests"),
               "request_events": database.scalar(db, "SELECT count(*) FROM request_events"),
               "building": building}
    client = app.test_client()
    page = client.get(f"/r/{token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf, "category": "sanitation", "description": DESCRIPTION}

    def report():
        answer = client.post(f"/r/{token}", data={**form, "uuid": str(uuid.uuid4())})
        assert answer.status_code == 302, answer.status_code
        return answer.headers["Location"]

    def bare_insert():
        body = "&".join(f"{k}={v}" for k, v in {**form, "uuid": str(uuid.uuid4())}.items())
        assert client.post("/bench/insert", data=body, headers={"X-Id": str(uuid.uuid4()),
                                                                "Content-Type": "text/plain"}).status_code == 201

    code = report().rsplit("/", 2)[-2]
    html = client.get(f"/t/{code}").get_data()
    Path(folder, "track.html").write_bytes(html)

    def track():
        assert client.get(f"/t/{code}").status_code == 200

    def bare_page():
        assert client.get("/bench/bare/track.html").status_code == 200

    (post_p50, post_p95), (insert_p50, insert_p95) = compared(runs, report, bare_insert)
    (track_p50, track_p95), (bare_p50, bare_p95) = compared(runs, track, bare_page)
    figures.update(post_p50_ms=post_p50, post_p95_ms=post_p95, insert_p50_ms=insert_p50, insert_p95_ms=insert_p95,
                   track_p50_ms=track_p50, track_p95_ms=track_p95, bare_p50_ms=bare_p50, bare_p95_ms=bare_p95,
                   html_bytes=len(html), reports_made=database.scalar(db, "SELECT count(*) FROM resident_reports"),
                   load=os.getloadavg())
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return figures


def report(figures):
    """Print the figures, one line each, with their baselines."""
    print(f"{figures['engine']}: {figures['households']:,} households, {figures['requests']:,} requests, "
          f"{figures['request_events']:,} request events; poster of {figures['building']['name']} "
          f"({figures['building']['households']} households); median / p95 of {figures['runs']} runs, warm, in turns; "
          f"load average {' '.join(f'{x:.2f}' for x in figures['load'])}")
    print(f"  POST /r/<token> (a resident's report): {figures['post_p50_ms']:.1f} / {figures['post_p95_ms']:.1f} ms | "
          f"bare durable INSERT of the same body {figures['insert_p50_ms']:.1f} / {figures['insert_p95_ms']:.1f} ms | "
          f"{figures['post_p50_ms'] / figures['insert_p50_ms']:.1f}×")
    print(f"  GET /t/<code> (tracking page, {figures['html_bytes']:,} bytes): {figures['track_p50_ms']:.1f} / "
          f"{figures['track_p95_ms']:.1f} ms | bare page of the same bytes {figures['bare_p50_ms']:.1f} / "
          f"{figures['bare_p95_ms']:.1f} ms | {figures['track_p50_ms'] / figures['bare_p50_ms']:.1f}×")
    print(f"  reports in the database after the run: {figures['reports_made']:,}")


def main():
    """Measure on the engine asked for and print the figures."""
    on_demo(__doc__.splitlines()[0], measure, report, runs=50, prefix="reports-")


if __name__ == "__main__":
    main()
