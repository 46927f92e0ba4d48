"""The leader's dashboard with its charts and the monthly report's PDF on the big demo, each next to its raw SQL
aggregates measured in the same run.

Usage: .venv/bin/python bench/dashboard_bench.py [--runs 5] [--engine sqlite|postgresql] [--households 100000]

For the community (admin) and one grid (leader1):
- the page /coverage/ (tiles, checklist, unreachable, members and the eight charts) over the Flask test client,
  p50 / p95, next to (a) the same page without charts (the member-side path: figures.dashboard skipped) and (b) the
  charts' raw SQL aggregates alone: each chart's statement run straight on the engine's connection;
- the monthly report (last month) as a PDF (/reports/monthly.pdf), next to its figures alone (figures.monthly)
  and their raw SQL. Goal: the dashboard within 1.5x of its aggregates (page minus the chartless page, against the
  aggregates), the PDF within 10 s.
"""
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import on_demo, signed_in_client  # noqa: E402
from fieldapp import create_app, figures  # noqa: E402
from fieldapp.data import cells, charts as chart_data  # noqa: E402
from fieldapp.data import db as database  # noqa: E402


def compared(runs, *works):
    """Median and p95 wall milliseconds, and median CPU milliseconds of this process, of each of works, measured
    in turns so that all see the same machine load (the CPU time says what the work costs on a busy machine; on
    PostgreSQL it leaves out the server's share)."""
    for work in works:
        work()
    walls, cpus = [[] for _ in works], [[] for _ in works]
    for _ in range(runs):
        for work, wall, cpu in zip(works, walls, cpus):
            started, used = time.perf_counter(), time.process_time()
            work()
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - used) * 1000)
    return [(statistics.median(w), sorted(w)[int(0.95 * (len(w) - 1))], statistics.median(c))
            for w, c in zip(walls, cpus)]


def clock_of(app, db):
    """The app's clock, as the pages have it."""
    from fieldapp.clock import clock

    with app.app_context():
        return clock(db)


def raw_aggregates(db, now, cell_ids):
    """The dashboard charts' SQL, each statement run as the data layer sends it, rows fetched, nothing else."""
    today = date.fromisoformat(now["today"])
    weeks, months = figures.week_spans(today), figures.month_spans(today)
    return lambda: (chart_data.coverage_per_span(db, now, weeks, cell_ids),
                    chart_data.vulnerable_per_span(db, now, weeks, cell_ids),
                    chart_data.requests_per_span(db, now, months, cell_ids),
                    chart_data.resolutions(db, now, months[0][0], today, cell_ids),
                    chart_data.return_visits_per_span(db, now, months, cell_ids),
                    chart_data.overdue_per_span(db, now, months, cell_ids))


def measure(target, runs):
    """The figures for the database target, as a dict."""
    app = create_app({"DATABASE": target, "SECRET_KEY": "bench"})
    db = database.connect(target)
    now = clock_of(app, db)
    leader = database.one(db, "SELECT grid_id FROM users WHERE username = 'leader1'")
    month = figures.default_month(db, now)
    result = {"engine": db.dialect.name, "runs": runs, "month": month,
              "households": database.scalar(db, "SELECT count(*) FROM households"),
              "visits": database.scalar(db, "SELECT count(*) FROM visits"),
              "requests": database.scalar(db, "SELECT count(*) FROM requests")}
    for who, username, cell_ids in (("community", "admin", None),
                                    ("grid", "leader1", cells.grid_cell_ids(db, leader["grid_id"]))):
        client = signed_in_client(app, username)
        real = figures.dashboard

        def page(client=client):
            assert client.get("/coverage/").status_code == 200

        def chartless(client=client):
            figures.dashboard = lambda *args: []
            try:
                assert client.get("/coverage/").status_code == 200
            finally:
                figures.dashboard = real

        (page_p50, page_p95, page_cpu), (bare_p50, _, bare_cpu), (sql_p50, _, sql_cpu) = compared(
            runs, page, chartless, raw_aggregates(db, now, cell_ids))
        pdf = client.get(f"/reports/monthly.pdf?month={month}")
        assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF", pdf.status_code

        def make_pdf(client=client):
            assert client.get(f"/reports/monthly.pdf?month={month}").status_code == 200

        def report_figures(cell_ids=cell_ids):
            first, last = figures.report_month(db, now, month)
            with app.test_request_context():
                from fieldapp import coverage

                def checklist(period):
                    grids = coverage.report(db, now, period, cell_ids)
                    return {key: sum(g[key] for g in grids) for key in coverage.COUNTED}

                figures.monthly(db, now, first, last, cell_ids, checklist)

        (pdf_p50, pdf_p95, pdf_cpu), (figures_p50, _, figures_cpu) = compared(max(1, runs // 2), make_pdf,
                                                                             report_figures)
        result[who] = {"page_p50_ms": page_p50, "page_p95_ms": page_p95, "page_cpu_ms": page_cpu,
                       "chartless_p50_ms": bare_p50, "chartless_cpu_ms": bare_cpu, "aggregates_p50_ms": sql_p50,
                       "aggregates_cpu_ms": sql_cpu, "pdf_p50_ms": pdf_p50, "pdf_p95_ms": pdf_p95,
                       "pdf_cpu_ms": pdf_cpu,
                       "pdf_bytes": len(pdf.data), "report_figures_p50_ms": figures_p50,
                       "report_figures_cpu_ms": figures_cpu}
    db.close()
    return result


def report(found):
    """Print the figures, one line each, with their baselines and the load average."""
    print(f"{found['engine']}: {found['households']:,} households, {found['visits']:,} visits, {found['requests']:,} "
          f"requests; report month {found['month']}; median of {found['runs']} runs, warm; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for who, label in (("community", "community (admin)"), ("grid", "one grid (leader1)")):
        f = found[who]
        charts_ms = f["page_p50_ms"] - f["chartless_p50_ms"]
        charts_cpu = f["page_cpu_ms"] - f["chartless_cpu_ms"]
        print(f"  {label}: /coverage/ with charts p50 / p95 {f['page_p50_ms']:.0f} / {f['page_p95_ms']:.0f} ms "
              f"(CPU {f['page_cpu_ms']:.0f}) | without charts {f['chartless_p50_ms']:.0f} ms (CPU "
              f"{f['chartless_cpu_ms']:.0f}) | the charts' share {charts_ms:.0f} ms (CPU {charts_cpu:.0f}) against "
              f"their raw SQL aggregates {f['aggregates_p50_ms']:.0f} ms (CPU {f['aggregates_cpu_ms']:.0f}): "
              f"{charts_ms / f['aggregates_p50_ms']:.2f}× | whole page against the aggregates "
              f"{f['page_p50_ms'] / f['aggregates_p50_ms']:.2f}×")
        print(f"    monthly report PDF p50 / p95 {f['pdf_p50_ms'] / 1000:.2f} / {f['pdf_p95_ms'] / 1000:.2f} s (CPU "
              f"{f['pdf_cpu_ms'] / 1000:.2f} s), {f['pdf_bytes'] // 1024} KB | its figures alone "
              f"{f['report_figures_p50_ms']:.0f} ms (CPU {f['report_figures_cpu_ms']:.0f})")


def main():
    """Measure on the engine asked for and print the figures."""
    on_demo(__doc__.splitlines()[0], measure, report, runs=5, prefix="dashboard-")


if __name__ == "__main__":
    main()
