"""Coverage and overdue on the big demo: the server's time next to the same aggregates as raw SQL.

Usage: FIELDAPP_DATABASE=/tmp/big.db .venv/bin/python bench/coverage_bench.py [--runs 5]
(build the database first: FIELDAPP_DATABASE=/tmp/big.db .venv/bin/fieldapp demo --households 100000).
Prints, for the admin's whole district: the dashboard and checklist (/coverage/), the overdue page
(/overdue/), each next to the hand-written SQL of the same numbers run straight in sqlite3, and the
Excel export of the checklist. Goal: server <= 1.5 x raw SQL.
"""
import argparse
import os
import statistics
import time
from datetime import datetime, time as clock_time, timedelta, timezone

import openpyxl

from fieldapp import create_app, rules
from fieldapp.data import db as database

OFFSET = timedelta(hours=8)  # Asia/Shanghai
# Each tagged household's shortest cycle: from its residents' tags (rc) and its own tags (hc).
CYCLES = """rc AS (SELECT r.household_id AS id, min(t.cycle_days) AS days FROM residents r
            JOIN resident_tags rt ON rt.resident_id = r.id JOIN tags t ON t.id = rt.tag_id
            WHERE r.moved_out_at IS NULL AND t.cycle_days IS NOT NULL GROUP BY r.household_id),
        hc AS (SELECT ht.household_id AS id, min(t.cycle_days) AS days FROM household_tags ht
            JOIN tags t ON t.id = ht.tag_id WHERE t.cycle_days IS NOT NULL GROUP BY ht.household_id)"""
TAGGED = "LEFT JOIN rc ON rc.id = h.id LEFT JOIN hc ON hc.id = h.id"


def utc_start(day):
    """The stored UTC timestamp at which a local (Shanghai) day begins."""
    return (datetime.combine(day, clock_time(0)) - OFFSET).replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_coverage(conn, today, default):
    """The dashboard's and checklist's numbers, as one would write them by hand."""
    cycles = [r[0] for r in conn.execute("SELECT DISTINCT cycle_days FROM tags WHERE cycle_days < ?", [default])]
    cases = " ".join(f"WHEN {d} THEN '{utc_start(today - timedelta(days=d - 1))}'" for d in cycles)
    default_since = utc_start(today - timedelta(days=default - 1))
    days = f"min({default}, coalesce(rc.days, {default}), coalesce(hc.days, {default}))"
    conn.execute(f"""
        WITH {CYCLES}
        SELECT h.cell_id, count(*), sum(h.last_visit_at >= CASE {days}
            {cases} ELSE '{default_since}' END)
        FROM households h {TAGGED} WHERE h.occupancy = 'occupied' GROUP BY h.cell_id
        """).fetchall()
    conn.execute("SELECT c.id, c.name, g.name FROM cells c JOIN grids g ON g.id = c.grid_id").fetchall()
    now = rules.iso(rules.utcnow())
    conn.execute("SELECT a.cell_id, u.id, u.display_name FROM assignments a JOIN users u ON u.id = a.user_id "
                 "WHERE a.valid_from <= ? AND (a.valid_to IS NULL OR a.valid_to > ?)", [now, now]).fetchall()
    week, month = utc_start(today - timedelta(days=6)), utc_start(today - timedelta(days=29))
    conn.execute("SELECT u.id, (SELECT count(*) FROM visits v WHERE v.user_id = u.id AND v.visited_at >= ?), "
                 "(SELECT count(*) FROM visits v WHERE v.user_id = u.id AND v.visited_at >= ?), "
                 "(SELECT max(visited_at) FROM visits v WHERE v.user_id = u.id) FROM users u WHERE u.role = 'member'",
                 [week, month]).fetchall()
    conn.execute("SELECT status, count(*), sum(status IN ('open', 'in_progress') AND due_date < ?) FROM requests "
                 "GROUP BY status", [today.isoformat()]).fetchall()


def raw_overdue(conn, today, default):
    """The overdue page's numbers by hand: late requests, idle members, households due for over a cycle."""
    late = "julianday(?) - julianday(q.due_date)"
    for key, join in (("q.responsible_user_id", "LEFT JOIN users u ON u.id = q.responsible_user_id"),
                      ("h.cell_id", "JOIN cells c ON c.id = h.cell_id")):
        conn.execute(f"SELECT {key}, count(*), max({late}), sum({late}) FROM requests q "
                     f"JOIN households h ON h.id = q.household_id {join} "
                     f"WHERE q.status IN ('open', 'in_progress') AND q.due_date < ? GROUP BY {key}",
                     [today.isoformat()] * 3).fetchall()
    conn.execute("SELECT u.id, (SELECT max(visited_at) FROM visits v WHERE v.user_id = u.id) FROM users u "
                 "WHERE u.role = 'member'").fetchall()
    cycles = [r[0] for r in conn.execute("SELECT DISTINCT cycle_days FROM tags WHERE cycle_days < ?", [default])]
    before = " ".join(f"WHEN {d} THEN '{utc_start(today - timedelta(days=2 * d - 1))}'" for d in cycles)
    added = " ".join(f"WHEN {d} THEN '{utc_start(today - timedelta(days=d - 1))}'" for d in cycles)
    days = f"min({default}, coalesce(rc.days, {default}), coalesce(hc.days, {default}))"
    now = rules.iso(rules.utcnow())
    conn.execute("SELECT a.cell_id, u.id, u.display_name FROM assignments a JOIN users u ON u.id = a.user_id "
                 "WHERE a.valid_from <= ? AND (a.valid_to IS NULL OR a.valid_to > ?)", [now, now]).fetchall()
    conn.execute(f"""
        WITH {CYCLES}
        SELECT *, count(*) OVER () FROM (
          SELECT h.id, h.address, h.last_visit_at, c2.name, {days} AS days,
            julianday('{today}') - julianday(coalesce(date(h.last_visit_at, '+480 minutes', '+' || {days} || ' days'),
                                                      date(h.created_at, '+480 minutes'))) AS late
          FROM households h {TAGGED} JOIN cells c2 ON c2.id = h.cell_id
          WHERE h.occupancy = 'occupied' AND (h.last_visit_at < CASE {days} {before}
                ELSE '{utc_start(today - timedelta(days=2 * default - 1))}' END
            OR (h.last_visit_at IS NULL AND h.created_at < CASE {days} {added}
                ELSE '{utc_start(today - timedelta(days=default - 1))}' END)))
        ORDER BY late DESC LIMIT 200
        """).fetchall()


def timed(runs, work):
    """The median seconds of runs calls of work, after one call to warm the caches."""
    work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def compared(runs, server, sql):
    """Median seconds of server and of sql, measured in turns so that both see the same machine load."""
    server(), sql()
    served, direct = [], []
    for _ in range(runs):
        for work, times in ((server, served), (sql, direct)):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
    return statistics.median(served), statistics.median(direct)


def measure(path, runs=7, exports=True):
    """The figures as a dict: server and raw SQL seconds (median of runs) for coverage and overdue, and the
    Excel exports' seconds when exports is true."""
    app = create_app({"DATABASE": path, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    response = client.post("/auth/login", data={"username": "admin", "password": "demo1234"})
    assert response.status_code == 302, "sign-in as admin failed (password demo1234)"
    conn = database.connect(path)
    default = int(database.scalar(conn, "SELECT value FROM settings WHERE key = 'default_cycle_days'"))
    today = rules.today()
    raw = conn.conn

    def page(url):
        """A function that asks the server for url as the admin."""
        def get():
            """Get the page; anything but 200 stops the bench."""
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.status_code)
        return get

    figures = {"households": database.scalar(conn, "SELECT count(*) FROM households"),
               "visits": database.scalar(conn, "SELECT count(*) FROM visits"), "runs": runs}
    for key, url, sql in (("coverage", "/coverage/", lambda: raw_coverage(raw, today, default)),
                          ("overdue", "/overdue/", lambda: raw_overdue(raw, today, default))):
        figures[key] = dict(zip(("server_s", "sql_s"), compared(runs, page(url), sql)))
    if exports:
        figures["coverage_xlsx_s"] = timed(max(1, runs // 2), page("/coverage/export?format=xlsx"))
        figures["overdue_xlsx_s"] = timed(max(1, runs // 2), page("/overdue/export?format=xlsx"))
    raw.close()
    return figures


def main():
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    path = os.environ.get("FIELDAPP_DATABASE", "/tmp/big.db")
    figures = measure(path, args.runs)
    print(f"database {path}: {figures['households']} households, {figures['visits']} visits; median of {args.runs} "
          f"runs, warm; openpyxl with lxml: {openpyxl.LXML}")
    for key, name in (("coverage", "coverage, whole district (/coverage/)"),
                      ("overdue", "overdue view, whole district (/overdue/)")):
        served, direct = figures[key]["server_s"], figures[key]["sql_s"]
        print(f"{name:44s} server {served * 1000:7.0f} ms   raw SQL {direct * 1000:7.0f} ms   "
              f"ratio {served / direct:4.2f} x")
    print(f"{'Excel export of the checklist (3 sheets)':44s} server {figures['coverage_xlsx_s'] * 1000:7.0f} ms")
    print(f"{'Excel export of the overdue view (5 sheets)':44s} server {figures['overdue_xlsx_s'] * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
