"""The leader's charts and the monthly report: each chart's numbers against plain SQL over a small world, the
page, the PDF (its text read with pdftotext) and the Excel file against the database, bad months."""
import io
import os
import re
import shutil
import statistics
import subprocess
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from fieldapp import figures, rules
from fieldapp.data import ledger
from fieldapp.data.db import insert, rows, scalar, write
from tests import factories

TODAY = rules.today()
DEFAULT_CYCLE = 30


def stamp(days_ago):
    """A UTC timestamp at local noon, days_ago days before today."""
    day = TODAY - timedelta(days=days_ago)
    return rules.iso(rules.parse_iso(rules.local_midnight_utc(day)) + timedelta(hours=12))


@pytest.fixture
def world(db):
    """Grid A (cell A1: households h1, vulnerable, h2, h3; two buildings; member m1, leader lead) and grid B (cell
    B1: h4); visits of the last weeks (one amended to an attempt, one rejected), requests in every status."""
    grid_a, grid_b = factories.make_grid(db, name="甲网格"), factories.make_grid(db, name="乙网格")
    a1, b1 = factories.make_cell(db, grid_a), factories.make_cell(db, grid_b, lon=120.2)
    m1 = factories.make_user(db, "member", "m1")
    lead = factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, a1, m1)
    building_1 = factories.make_building(db, a1, name="3号楼")
    building_2 = factories.make_building(db, a1, name="5号楼")
    created = stamp(200)
    h1 = factories.make_household(db, a1, building_1, address="3号楼 101", created_at=created)
    h2 = factories.make_household(db, a1, building_1, address="3号楼 102", created_at=created)
    h3 = factories.make_household(db, a1, building_2, address="5号楼 201", created_at=created)
    h4 = factories.make_household(db, b1, address="乙 1", created_at=created)
    factories.make_resident(db, h1, tags=("elderly_alone",))
    made = [(h1, 3, "met"), (h1, 10, "met"), (h1, 40, "met"), (h2, 5, "nobody_home"), (h2, 20, "met"),
            (h3, 2, "phone_call"), (h3, 9, "met"), (h3, 16, "met"), (h4, 1, "met"), (h2, 60, "declined")]
    visit_ids = [factories.make_visit(db, h, m1, stamp(days), outcome) for h, days, outcome in made]
    with write(db):  # h3's visit 9 days ago rejected in review, h3's 16 days ago amended to nobody home
        db.execute("INSERT INTO visit_standing (visit_id, outcome, rejected) VALUES (?, 'met', 1)", [visit_ids[6]])
        db.execute("INSERT INTO visit_standing (visit_id, outcome, rejected) VALUES (?, 'nobody_home', 0)",
                   [visit_ids[7]])

    def request(household, days_ago, due_in, category, channel, steps=()):
        raised = stamp(days_ago)
        due = (TODAY - timedelta(days=days_ago) + timedelta(days=due_in)).isoformat()
        request_id = factories.make_request(db, household, m1, category=category, due_date=due, created_at=raised,
                                            channel=channel)
        for action, after, data in steps:
            ledger.apply(db, request_id, action, user_id=lead, at=stamp(after), note="办理", data=data)
        return request_id

    requests = {
        "overdue": request(h1, 20, 5, "medical", "visit"),
        "in_progress": request(h2, 12, 30, "housing", "phone", [("progress", 11, None)]),
        "resolved": request(h2, 15, 10, "housing", "visit", [("resolve", 6, None)]),
        "closed": request(h3, 40, 10, "sanitation", "walk_in", [("resolve", 35, None), ("confirm", 30, None)]),
        "late_closed": request(h3, 30, 3, "sanitation", "visit", [("resolve", 20, None), ("confirm", 18, None)]),
        "reopened": request(h1, 25, 10, "elderly_care", "phone", [
            ("refer", 24, {"referral": "health_center"}), ("resolve", 22, None), ("reopen", 21, None)]),
        "other_grid": request(h4, 10, 2, "medical", "visit"),
    }
    # Residents' own ratings through the tracking code: grid A's resolved requests one satisfied, one not (20 and
    # 6 days ago); grid B's none.
    with write(db):
        for key, days_ago, satisfied in (("closed", 20, 1), ("resolved", 6, 0)):
            resolved = scalar(db, "SELECT max(id) FROM request_events WHERE request_id = ? AND kind = 'resolved'",
                              [requests[key]])
            insert(db, "report_ratings", {"request_id": requests[key], "resolved_event_id": resolved,
                                          "satisfied": satisfied, "at": stamp(days_ago)}, returning=None)
    return {"grids": {"a": grid_a, "b": grid_b}, "cells": {"a": [a1], "b": [b1]}, "lead": lead,
            "households": [h1, h2, h3, h4], "requests": requests}


CLOCK = {"today": TODAY.isoformat(), "offset": "+480 minutes", "timezone": "Asia/Shanghai",
         "default_cycle": DEFAULT_CYCLE}


def chart_rows(html, key):
    """The rows of the numbers' table of the chart key on a page, as text."""
    table = re.search(rf'<table class="table chart-table" data-chart="{key}">(.*?)</table>', html, re.S).group(1)
    body = table.split("<tbody>")[1]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S) if "colspan" not in row]


def number(text):
    """A table cell's number (— is None)."""
    return None if text == "—" else float(text) if "." in text else int(text)


def span_bounds(first, last):
    return rules.local_midnight_utc(first), rules.local_midnight_utc(last + timedelta(days=1))


STANDS = "FROM visits v LEFT JOIN visit_standing vs ON vs.visit_id = v.id JOIN households h ON h.id = v.household_id"
OUTCOME = "coalesce(vs.outcome, v.outcome)"


def test_dashboard_charts_hold_the_numbers_of_plain_sql(world, db, client, auth):
    auth.login("lead")
    html = client.get("/coverage/?lang=en").get_data(as_text=True)
    cells = world["cells"]["a"][0]
    for title in ("Coverage per week", "Vulnerable households visited in their cycle", "Requests per month by category",
                  "Requests per month by channel", "Time to resolve per category", "Satisfaction of return visits",
                  "Overdue requests by responsible person"):
        assert f'role="img" aria-label="{title}"' in html
    assert "<script" not in html.split('class="charts"')[1].split("</section>")[0]
    assert re.search(r'href="/reports/monthly[^"]*">Monthly report</a>', html)

    weeks = figures.week_spans(TODAY)
    shown = chart_rows(html, "coverage")
    assert [row[0] for row in shown] == [first.strftime("%m-%d") for first, _last in weeks]
    for (first, last), row in zip(weeks, shown):
        start, end = span_bounds(first, last)
        per_household = rows(db, f"SELECT v.household_id, count(*) FILTER (WHERE {OUTCOME} IN "
                                 "('met', 'met_elsewhere', 'phone_call')) AS contacts, count(*) AS made "
                                 f"{STANDS} WHERE h.cell_id = ? AND coalesce(vs.rejected, 0) = 0 AND v.visited_at >= ? "
                                 f"AND v.visited_at < ? AND {OUTCOME} NOT IN ('moved_out', 'vacant') "
                                 "GROUP BY v.household_id", [cells, start, end])
        contacted = sum(1 for r in per_household if r["contacts"])
        attempted = sum(1 for r in per_household if not r["contacts"])
        assert [number(x) for x in row[1:4]] == [3, contacted, attempted], row
        assert number(row[4]) == round(contacted * 100 / 3, 1)
    # h1 three times, h2 once, h3 by phone; h3's rejected visit and the one amended to an attempt are no contacts.
    assert sum(number(row[2]) for row in shown) == 5

    for (first, last), row in zip(weeks, chart_rows(html, "vulnerable")):
        start, end = span_bounds(last - timedelta(days=6), last)  # h1 (elderly alone): a weekly cycle
        met = scalar(db, f"SELECT count(*) {STANDS} WHERE v.household_id = ? AND v.visited_at >= ? "
                         "AND v.visited_at < ? "
                         f"AND {OUTCOME} IN ('met', 'phone_call') AND coalesce(vs.rejected, 0) = 0",
                     [world["households"][0], start, end])
        assert [number(x) for x in row[1:3]] == [1, 1 if met else 0], (first, row)

    months = figures.month_spans(TODAY)
    in_grid = ("FROM requests q JOIN households h ON h.id = q.household_id WHERE h.cell_id = ? ")
    totals = chart_rows(html, "requests")
    for (first, last), row in zip(months, totals):
        start, end = span_bounds(first, last)
        raised = scalar(db, f"SELECT count(*) {in_grid} AND q.created_at >= ? AND q.created_at < ?",
                        [cells, start, end])
        resolved = scalar(db, "SELECT count(DISTINCT e.request_id) FROM request_events e JOIN requests q ON q.id = "
                              "e.request_id JOIN households h ON h.id = q.household_id WHERE h.cell_id = ? "
                              "AND e.kind = 'resolved' AND e.at >= ? AND e.at < ?", [cells, start, end])
        assert [number(x) for x in row[1:]] == [raised, resolved], row
    assert sum(number(row[1]) for row in totals) == 6  # grid B's request is not the leader's
    by_channel = {}
    for row in chart_rows(html, "requests_channel"):
        by_channel[row[1]] = by_channel.get(row[1], 0) + number(row[2])
    assert by_channel == {"At a visit": 3, "By phone": 2, "In person at the office": 1}

    # Time to resolve: first resolutions of the year per category, median and 90th percentile of the days.
    resolved = rows(db, "SELECT q.category, q.created_at, q.due_date, min(e.at) AS first_at FROM requests q "
                        "JOIN households h ON h.id = q.household_id JOIN request_events e ON e.request_id = q.id "
                        "AND e.kind = 'resolved' WHERE h.cell_id = ? GROUP BY q.id, q.category, q.created_at, "
                        "q.due_date", [cells])
    taken = {}
    for r in resolved:
        days = (rules.parse_iso(r["first_at"]) - rules.parse_iso(r["created_at"])).total_seconds() / 86400
        taken.setdefault(r["category"], []).append((days, rules.local_date(r["first_at"]).isoformat() <= r["due_date"]))
    shown = {row[0]: [number(x) for x in row[1:]] for row in chart_rows(html, "resolution")}
    sanitation = sorted(days for days, _ok in taken["sanitation"])  # 5 and 10 days; one in time, one late
    assert shown["Environment and sanitation"] == [2, round(statistics.median(sanitation), 1),
                                                   round(sanitation[0] + 0.9 * (sanitation[1] - sanitation[0]), 1),
                                                   50.0]
    assert shown["Housing"] == [1, 9.0, 9.0, 100.0] and shown["Elderly care"] == [1, 3.0, 3.0, 100.0]

    satisfaction = chart_rows(html, "satisfaction")
    for (first, last), row in zip(months, satisfaction):
        start, end = span_bounds(first, last)
        answers = rows(db, "SELECT e.to_status, count(*) AS n FROM request_events e JOIN requests q ON q.id = "
                           "e.request_id JOIN households h ON h.id = q.household_id WHERE h.cell_id = ? AND "
                           "e.kind = 'return_visit' AND e.at >= ? AND e.at < ? GROUP BY e.to_status",
                       [cells, start, end])
        counted = {r["to_status"]: r["n"] for r in answers}
        assert [number(x) for x in row[1:3]] == [counted.get("closed", 0), counted.get("open", 0)], row
    assert sum(number(row[1]) for row in satisfaction) == 2 and sum(number(row[2]) for row in satisfaction) == 1
    for (first, last), row in zip(months, satisfaction):
        start, end = span_bounds(first, last)
        rated = rows(db, "SELECT r.satisfied, count(*) AS n FROM report_ratings r JOIN requests q ON q.id = "
                         "r.request_id JOIN households h ON h.id = q.household_id WHERE h.cell_id = ? AND r.at >= ? "
                         "AND r.at < ? GROUP BY r.satisfied", [cells, start, end])
        counted = {r["satisfied"]: r["n"] for r in rated}
        assert [number(x) for x in row[4:6]] == [counted.get(1, 0), counted.get(0, 0)], row
    assert sum(number(row[4]) for row in satisfaction) == 1 and sum(number(row[5]) for row in satisfaction) == 1

    # Overdue at the current month's end (today) per person: what the ledger's accountability page counts.
    latest = [row for row in chart_rows(html, "overdue") if row[0] == months[-1][0].strftime("%Y-%m")]
    expected = ledger.overdue_groups(db, [cells], TODAY.isoformat(), "person")
    assert [(row[1], number(row[2])) for row in latest] == [(g["name"], g["requests"]) for g in expected]
    assert sum(g["requests"] for g in expected) == 2  # the one never answered and the one reopened


def test_members_see_no_charts(world, client, auth):
    auth.login("m1")
    html = client.get("/coverage/?lang=en").get_data(as_text=True)
    assert 'role="img"' not in html and "Monthly report" not in html
    assert client.get("/reports/monthly").status_code == 403


def test_an_admin_asks_for_the_communitys_charts_and_a_grids_show_at_once(world, client, auth):
    auth.login("boss")
    community = client.get("/coverage/?lang=en").get_data(as_text=True)
    assert 'role="img"' not in community
    link = re.search(r'<a class="button" href="([^"]*)">Show the community(?:&#39;|\')s charts</a>', community)
    assert link and link.group(1) == "/coverage/?charts=1", re.findall(r'<a[^>]*>Show the[^<]*', community)
    drawn = client.get("/coverage/?charts=1&lang=en").get_data(as_text=True)
    assert 'role="img" aria-label="Coverage per week"' in drawn
    grid = client.get(f"/coverage/?grid={world['grids']['a']}&lang=en").get_data(as_text=True)
    assert 'role="img" aria-label="Coverage per week"' in grid


def last_month():
    first = rules.add_months(TODAY.replace(day=1), -1)
    return first, rules.month_period(first.year, first.month)[1]


def month_figures(db, cells, first, last):
    """The report's figures of a month, by plain SQL."""
    start, end = span_bounds(first, last)
    raised = rows(db, "SELECT q.channel, q.category, q.status FROM requests q "
                      "JOIN households h ON h.id = q.household_id "
                      "WHERE h.cell_id = ? AND q.created_at >= ? AND q.created_at < ?", [cells, start, end])
    return {"raised": len(raised), "channels": {r["channel"] for r in raised}}


def pdf_tools():
    """Whether PDFs can be made and read here; a missing tool skips, or fails where FIELDAPP_REQUIRE_PDF is set."""
    from fieldapp import reports

    missing = [name for name, there in (("pdftotext (poppler-utils)", shutil.which("pdftotext")),
                                        ("WeasyPrint's libraries (pango)", reports.pdf_engine())) if not there]
    if missing:
        message = f"cannot make or read PDFs: {', '.join(missing)} missing"
        if os.environ.get("FIELDAPP_REQUIRE_PDF"):
            pytest.fail(message)
        pytest.skip(message)


def test_monthly_report_page_pdf_and_excel_hold_the_same_numbers(world, db, client, auth):
    from fieldapp.data import coverage as coverage_data

    first, last = last_month()
    month = first.strftime("%Y-%m")
    cells = world["cells"]["a"][0]
    period = {"kind": "month", "start": first, "end": last, "key": month}
    clock = {**CLOCK, "unreachable_attempts": 3, "phone_calls_weekly": True}
    checklist = coverage_data.period_by_cell(db, clock, period, [cells])[0]
    plain = month_figures(db, cells, first, last)
    overdue_then = ledger.overdue_groups(db, [cells], last.isoformat(), "person")
    auth.login("lead")
    page = client.get(f"/reports/monthly?month={month}&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for name in ("Download PDF", "Download Excel"):
        link = rf'<a class="button" href="/reports/monthly\.(pdf|xlsx)\?[^"]*month={month}[^"]*">{name}</a>'
        assert re.search(link, html)
    assert re.search(rf'data-figure="households">{checklist["households"]}<', html)
    assert re.search(rf'data-figure="contacted">{checklist["visited"]} ', html)
    assert re.search(rf'data-figure="attempted">{checklist["attempted"]} ', html)
    assert f"Requests raised: {plain['raised']}" in html
    assert 'role="img" aria-label="Coverage per week"' in html

    workbook = load_workbook(io.BytesIO(client.get(f"/reports/monthly.xlsx?month={month}&lang=en").data))
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Month"] == month and summary["Households"] == checklist["households"]
    assert summary["Contacted"] == checklist["visited"] and summary["Attempted, not reached"] == checklist["attempted"]
    assert summary["Requests raised"] == plain["raised"]
    by_channel = {row[0]: row[1] for row in workbook["By channel"].iter_rows(min_row=2, values_only=True)}
    assert sum(by_channel.values()) == plain["raised"]
    overdue_sheet = list(workbook["Overdue"].iter_rows(min_row=2, values_only=True))
    referred = rows(db, "SELECT p.code, count(*) AS n, count(r.answered_at) AS answered FROM referrals r "
                        "JOIN partners p ON p.id = r.partner_id JOIN requests q ON q.id = r.request_id "
                        "JOIN households h ON h.id = q.household_id WHERE h.cell_id = ? AND r.referred_at >= ? "
                        "AND r.referred_at < ? GROUP BY p.code", [cells, *span_bounds(first, last)])
    sheet = [row for row in workbook["Referrals"].iter_rows(min_row=2, values_only=True)]
    assert sorted((row[1], row[3]) for row in sheet) == sorted((r["n"], r["answered"]) for r in referred)
    assert len(overdue_sheet) == sum(g["requests"] for g in overdue_then)
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'export' AND target_type = 'monthly_report'") == 1

    pdf_tools()
    response = client.get(f"/reports/monthly.pdf?month={month}&lang=en")
    assert response.status_code == 200 and response.data[:4] == b"%PDF"
    assert response.headers["Content-Type"] == "application/pdf"
    text = subprocess.run(["pdftotext", "-", "-"], input=response.data, capture_output=True, check=True).stdout.decode()
    words = " ".join(text.split())
    assert f"Monthly report · 甲网格 · {month}" in words
    assert f"Requests raised: {plain['raised']}" in words
    assert f"Households {checklist['households']}" in words and f"Contacted {checklist['visited']} (" in words
    assert f"Overdue at the month's end: {len(overdue_sheet)}" in words
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'export' AND target_type = 'monthly_report'") == 2


@pytest.mark.parametrize("month, message", [
    ("2099-01", "2099-01 has not begun"), ("1999-12", "the records begin in"), ("not-a-month", "give it as YYYY-MM"),
    ("2026-13", "give it as YYYY-MM")])
def test_bad_months_get_a_message_not_a_file(world, client, auth, month, message):
    auth.login("lead")
    for path in ("/reports/monthly", "/reports/monthly.pdf", "/reports/monthly.xlsx", "/reports/monthly/print"):
        response = client.get(f"{path}?month={month}&lang=en")
        assert response.status_code == 400, path
        assert message in response.get_data(as_text=True) and 'aria-invalid="true"' in response.get_data(as_text=True)


def test_bad_month_message_in_chinese(world, client, auth):
    auth.login("lead")
    assert "尚未开始" in client.get("/reports/monthly?month=2099-01").get_data(as_text=True)


def test_without_weasyprint_the_page_says_what_to_install(world, client, auth, monkeypatch):
    from fieldapp import reports

    monkeypatch.setitem(reports._pdf_engine, "html", None)
    auth.login("boss")
    response = client.get("/reports/monthly.pdf?lang=en")
    assert response.status_code == 503
    assert "apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk" in response.get_data(as_text=True)
    printed = client.get("/reports/monthly/print?lang=en")
    assert printed.status_code == 200 and "Monthly report · The community" in printed.get_data(as_text=True)


def test_a_leader_reports_on_their_own_grid_only(world, client, auth):
    auth.login("lead")
    assert client.get(f"/reports/monthly?grid={world['grids']['b']}").status_code == 404
    assert "甲网格" in client.get("/reports/monthly").get_data(as_text=True)


def test_percentile_interpolates_between_ranks():
    assert figures.percentile([], 0.5) is None
    assert figures.percentile([4.0], 0.9) == 4.0
    assert figures.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert figures.percentile([10, 0], 0.9) == pytest.approx(9.0)
    assert figures.percentile(list(range(11)), 0.9) == pytest.approx(9.0)


def test_a_chart_is_drawn_once_for_the_same_numbers():
    from fieldapp import charts

    first = charts.line("Coverage per week", ["06-01", "06-08"], [("Contacted", [10.0, 20.0])], percent=True)
    assert charts.line("Coverage per week", ["06-01", "06-08"], [("Contacted", [10.0, 20.0])], percent=True) is first
    changed = charts.line("Coverage per week", ["06-01", "06-08"], [("Contacted", [10.0, 25.0])], percent=True)
    assert changed is not first and first.startswith("<svg") and 'role="img" aria-label="Coverage per week"' in changed
    assert "<script" not in changed
