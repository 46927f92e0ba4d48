"""The leader's review list on the big demo, each figure next to its baseline measured in the same run.

Usage: .venv/bin/python bench/review.py [--runs 9] [--engine sqlite|postgresql] [--households 100000]

SQLite: a copy of the cached demo (bench/common.big_database; FIELDAPP_BENCH_DB names another file). PostgreSQL:
a cluster of the bench's own with the demo restored into it (bench/postgres_server.py). For the district (admin)
and one grid (leader1) it prints what the list holds (items by reason), then
- the page /review/ over the Flask test client, p50 / p95, next to a bare page of the same bytes from the same app
  (bench/baseline.py: no database, no template, no sign-in);
- the list's query (data/review.items) next to (a) the same flags as one plain statement (late by the two times,
  the burst counted visit by visit through index visits_user), whose visits must be the same, and (b) the least a
  list can read: the window's visits with a location flag.
The demo changes (its helper may add review items); the figures hold for whatever it holds, and say so.
"""
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.baseline import add_baselines  # noqa: E402
from bench.common import on_demo, signed_in_client  # noqa: E402
from fieldapp import create_app, rules  # noqa: E402
from fieldapp.data import db as database  # noqa: E402
from fieldapp.data import cells, review  # noqa: E402

# A phone call's position proves nothing (data/review.py): it is never off-site.
REMOTE = "(" + ", ".join(f"'{outcome}'" for outcome in rules.REMOTE_OUTCOMES) + ")"
# The flagged visits of the window as one would write them by hand: every visit of the window, its lateness from its
# two times, the households its member visited within the burst's span counted for it alone.
PLAIN = {
    "sqlite": """
        SELECT * FROM (
          SELECT v.id, CASE WHEN v.outcome IN {remote} THEN 'ok' ELSE v.location_flag END AS location_flag,
                 (julianday(v.received_at) - julianday(v.visited_at)) * 24 > {late} AS late,
                 (SELECT count(DISTINCT w.household_id) FROM visits w WHERE w.user_id = v.user_id
                    AND w.visited_at BETWEEN strftime('%Y-%m-%dT%H:%M:%SZ', v.visited_at, '-{span} seconds')
                                         AND strftime('%Y-%m-%dT%H:%M:%SZ', v.visited_at, '+{span} seconds'))
                   >= {burst} AS burst
          FROM visits v JOIN households h ON h.id = v.household_id WHERE v.received_at >= ? {scope}) x
        WHERE location_flag != 'ok' OR late OR burst""",
    "postgresql": """
        SELECT * FROM (
          SELECT v.id, CASE WHEN v.outcome IN {remote} THEN 'ok' ELSE v.location_flag END AS location_flag,
                 v.received_at::timestamp - v.visited_at::timestamp > interval '{late} hours' AS late,
                 (SELECT count(DISTINCT w.household_id) FROM visits w WHERE w.user_id = v.user_id
                    AND w.visited_at BETWEEN to_char(v.visited_at::timestamp - interval '{span} seconds',
                                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                         AND to_char(v.visited_at::timestamp + interval '{span} seconds',
                                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"')) >= {burst} AS burst
          FROM visits v JOIN households h ON h.id = v.household_id WHERE v.received_at >= ? {scope}) x
        WHERE location_flag != 'ok' OR late OR burst""",
}
# The least a review list reads: the window's visits whose position was flagged.
FLAGGED_ONLY = ("SELECT v.id, v.location_flag FROM visits v JOIN households h ON h.id = v.household_id "
                "WHERE v.received_at >= ? AND v.location_flag != 'ok' AND v.outcome NOT IN {remote} {scope}")


def compared(runs, *works):
    """Median and p95 milliseconds of each of works, measured in turns so that all see the same machine load."""
    for work in works:
        work()
    times = [[] for _ in works]
    for _ in range(runs):
        for work, samples in zip(works, times):
            started = time.perf_counter()
            work()
            samples.append((time.perf_counter() - started) * 1000)
    return [(statistics.median(s), sorted(s)[int(0.95 * (len(s) - 1))]) for s in times]


def raw_query(db, sql, params):
    """A function that runs sql straight on the engine's connection (sqlite3; psycopg with the app's placeholders
    translated), its rows fetched."""
    if db.dialect.name == "sqlite":
        return lambda: db.conn.execute(sql, params).fetchall()
    return lambda: db.execute(sql, params).fetchall()


def measure(target, runs=9):
    """The figures for the database target (a SQLite path or a PostgreSQL URL), as a dict."""
    folder = tempfile.mkdtemp(prefix="fieldapp-bench-review-")
    app = add_baselines(create_app({"DATABASE": target, "SECRET_KEY": "bench"}), folder)
    db = database.connect(target)
    engine = db.dialect.name
    since = review.window_start()
    leader = database.one(db, "SELECT grid_id FROM users WHERE username = 'leader1'")
    figures = {"engine": engine, "runs": runs, "households": database.scalar(db, "SELECT count(*) FROM households"),
               "window_visits": database.scalar(db, "SELECT count(*) FROM visits WHERE received_at >= ?", [since]),
               "review_events": database.scalar(db, "SELECT count(*) FROM review_events"),
               "register_changes": database.scalar(db, "SELECT count(*) FROM register_changes")}
    for who, username, cell_ids in (("district", "admin", None),
                                    ("grid", "leader1", cells.grid_cell_ids(db, leader["grid_id"]))):
        scope = "" if cell_ids is None else f"AND h.cell_id IN ({', '.join(str(int(c)) for c in cell_ids)})"
        found = review.items(db, cell_ids, since)
        plain = PLAIN[engine].format(late=review.LATE_HOURS, span=review.BURST_MINUTES * 60,
                                     burst=review.BURST_VISITS, scope=scope, remote=REMOTE)
        plain_rows = raw_query(db, plain, [since])()
        # The list's doubtful visits received in the window (it also holds older ones someone acted on lately).
        flagged = {i["id"] for i in found if i["subject"] == "visit" and i["received_at"] >= since
                   and set(i["reasons"]) & set(review.VISIT_REASONS)}
        assert flagged == {row[0] for row in plain_rows}, f"{who}: the list and the plain statement disagree"
        by_reason = {reason: sum(reason in i["reasons"] for i in found) for reason in review.REASONS}
        client = signed_in_client(app, username)
        html = client.get("/review/").get_data()
        Path(folder, f"{who}.html").write_bytes(html)

        def page(client=client):
            assert client.get("/review/").status_code == 200

        def bare(client=client, who=who):
            assert client.get(f"/bench/bare/{who}.html").status_code == 200

        (page_p50, page_p95), (bare_p50, bare_p95) = compared(runs, page, bare)
        (items_ms, _), (plain_ms, _), (least_ms, _) = compared(
            runs, lambda cell_ids=cell_ids: review.items(db, cell_ids, since), raw_query(db, plain, [since]),
            raw_query(db, FLAGGED_ONLY.format(scope=scope, remote=REMOTE), [since]))
        figures[who] = {"items": len(found), "open": sum(i["state"] != "decided" for i in found),
                        "by_reason": by_reason, "html_bytes": len(html), "page_p50_ms": page_p50,
                        "page_p95_ms": page_p95, "bare_p50_ms": bare_p50, "bare_p95_ms": bare_p95,
                        "items_ms": items_ms, "plain_sql_ms": plain_ms, "flagged_only_ms": least_ms}
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return figures


def report(figures):
    """Print the figures, one line each, with their baselines."""
    print(f"{figures['engine']}: {figures['households']:,} households, {figures['window_visits']:,} visits received in "
          f"the last {review.WINDOW_DAYS} days, {figures['register_changes']:,} register changes, "
          f"{figures['review_events']:,} review events; median of {figures['runs']} runs, warm")
    for who, label in (("district", "district (admin)"), ("grid", "one grid (leader1)")):
        found = figures[who]
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in found["by_reason"].items() if count)
        print(f"  {label}: {found['items']:,} items ({found['open']:,} not decided): {reasons or 'none'}")
        print(f"    /review/ page, {found['html_bytes'] // 1024} KB: p50 / p95 {found['page_p50_ms']:.1f} / "
              f"{found['page_p95_ms']:.1f} ms | bare page of the same bytes {found['bare_p50_ms']:.1f} / "
              f"{found['bare_p95_ms']:.1f} ms | {found['page_p50_ms'] / found['bare_p50_ms']:.1f}×")
        print(f"    the list's query (review.items): {found['items_ms']:.1f} ms | the same flags as one plain "
              f"statement {found['plain_sql_ms']:.1f} ms ({found['items_ms'] / found['plain_sql_ms']:.2f}×) | "
              f"the window's location-flagged visits alone {found['flagged_only_ms']:.1f} ms "
              f"({found['items_ms'] / found['flagged_only_ms']:.1f}×)")


def main():
    """Measure on the engine asked for and print the figures."""
    on_demo(__doc__.splitlines()[0], measure, report, runs=9, prefix="review-")


if __name__ == "__main__":
    main()
