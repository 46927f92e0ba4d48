"""The admin's settings: default cycle, per-tag cycles, per-category time limits; checked, audited, in force."""
import json

import pytest

from fieldapp.data import db as database
from fieldapp.data import households
from tests import factories

CLOCK = {"today": "2026-03-01", "offset": "+480 minutes"}


@pytest.fixture
def admin(db):
    factories.make_user(db, "admin", "boss")
    factories.make_user(db, "leader", "lead", grid_id=factories.make_grid(db))


def form(token, **changes):
    """The settings form as the page sends it, with changes."""
    data = {"csrf_token": token, "default_cycle_days": "30", "tag_elderly_alone": "7", "tag_low_income": "14",
            "tag_disabled": "14", "tag_veteran": "", "tag_left_behind_child": "14", "tag_party_member": ""}
    data.update({f"category_{code}": str(days) for code, days in [
        ("employment", 15), ("medical", 7), ("elderly_care", 7), ("housing", 30), ("sanitation", 7),
        ("public_security", 3), ("dispute", 7), ("policy", 5), ("other", 15)]})
    data.update(changes)
    return data


def test_admin_sees_the_current_settings(auth, client, admin):
    auth.login("boss")
    body = client.get("/admin/settings/?lang=en").get_data(as_text=True)
    assert 'name="default_cycle_days" type="number"' in body and 'value="30"' in body
    assert "Elderly living alone" in body and "Medical care" in body


def test_only_admins(auth, client, admin):
    auth.login("lead")
    assert client.get("/admin/settings/").status_code == 403
    assert client.post("/admin/settings/", data=form(auth.csrf_token())).status_code == 403


def test_saving_changes_cycles_and_limits_and_is_audited(auth, client, db, admin):
    auth.login("boss")
    response = client.post("/admin/settings/", data=form(auth.csrf_token(), default_cycle_days="21",
                                                          tag_elderly_alone="5", tag_veteran="10",
                                                          category_medical="3"))
    assert response.status_code == 302
    assert households.default_cycle_days(db) == 21
    cycles = {r["code"]: r["cycle_days"] for r in database.rows(db, "SELECT code, cycle_days FROM tags")}
    assert (cycles["elderly_alone"], cycles["veteran"], cycles["party_member"]) == (5, 10, None)
    assert database.scalar(db, "SELECT due_days FROM categories WHERE code = 'medical'") == 3
    entry = database.one(db, "SELECT detail FROM audit_log WHERE action = 'settings'")
    assert json.loads(entry["detail"]) == {"default_cycle_days": [30, 21], "tag:elderly_alone": [7, 5],
                                           "tag:veteran": [None, 10], "category:medical": [7, 3]}


def test_a_tag_cycle_takes_effect_on_the_households(auth, client, db, admin):
    household = factories.make_household(db, factories.make_cell(db), last_visit_at="2026-02-20T02:00:00Z")
    factories.make_resident(db, household, tags=["veteran"])
    [before] = households.with_status(db, {**CLOCK, "default_cycle": 30}, household_id=household)
    assert (before["cycle_days"], before["status"]) == (30, "visited")
    auth.login("boss")
    client.post("/admin/settings/", data=form(auth.csrf_token(), tag_veteran="7"))
    [after] = households.with_status(db, {**CLOCK, "default_cycle": 30}, household_id=household)
    assert (after["cycle_days"], after["status"]) == (7, "due")


@pytest.mark.parametrize("field, value", [("default_cycle_days", "0"), ("default_cycle_days", ""),
                                          ("tag_elderly_alone", "abc"), ("category_housing", "400"),
                                          ("category_policy", "")])
def test_bad_values_change_nothing(auth, client, db, admin, field, value):
    auth.login("boss")
    response = client.post("/admin/settings/?lang=en", data=form(auth.csrf_token(), **{field: value},
                                                                  category_medical="3"))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'id="error-{field}"' in body and "from 1 to 365" in body
    assert database.scalar(db, "SELECT due_days FROM categories WHERE code = 'medical'") == 7
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'settings'") == 0
