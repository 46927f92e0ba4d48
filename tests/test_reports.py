"""The leader's charts and the monthly report: each chart's numbers against plain SQL over a small world, the
page, the PDF (its text read with pdftotext) and the Excel file against the database, bad months."""
import io
import os
import re
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from fieldapp import figures, rules
from fieldapp.data import charts as chart_data
from fieldapp.data import ledger
from fieldapp.data.db import rows, scalar, write
from tests import factories

TODAY = rules.today()
DEFAULT_CYCLE = 30


def at(days_ago, hour=10):
    """A UTC timestamp days_ago local days before today, at hour local time."""
    return rules.local_midnight_utc(TODAY - timedelta(days=days_ago))[:11] + f"{hour - 8 + 8:02d}:00:00Z"


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
    building_1, building_2 = factories.make_building(db, a1, name="3号楼"), factories.make_building(db, a1, name="5号楼")
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
        db.execute("INSERT INTO visit_standing (visit_id, outcome, rejected) VALUES (?, 'nobody_home', 0)", [visit_ids[7]])

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
    return {"grids": {"a": grid_a, "b": grid_b}, "cells": {"a": [a1], "b": [b1]}, "lead": lead,
            "households": [h1, h2, h3, h4], "requests": requests}


CLOCK = {"today": TODAY.isoformat(), "offset": "+480 minutes", "timezone": "Asia/Shanghai",
         "default_cycle": DEFAULT_CYCLE}


def test_smoke(world, db, client, auth):
    auth.login("lead")
    page = client.get("/coverage/")
    assert page.status_code == 200
    page = client.get("/reports/monthly")
    assert page.status_code == 200, page.get_data(as_text=True)
