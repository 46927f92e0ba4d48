"""The admin's settings: default cycle, per-tag cycles, per-category time limits, what counts as contact; checked,
audited, in force."""
import json
import re

import pytest

from fieldapp import rules
from fieldapp.clock import clock
from fieldapp.data import db as database
from fieldapp.data import households, settings
from tests import factories

CLOCK = {"today": "2026-03-01", "offset": "+480 minutes"}


@pytest.fixture
def admin(db):
    factories.make_user(db, "admin", "boss")
    factories.make_user(db, "leader", "lead", grid_id=factories.make_grid(db))


def form(token, **changes):
    """The settings form as the page sends it, with changes."""
    data = {"csrf_token": token, "default_cycle_days": "30", "unreachable_attempts": "3", "phone_calls_weekly": "1",
            "tag_elderly_alone": "7", "tag_low_income": "14",
            "tag_disabled": "14", "tag_veteran": "", "tag_left_behind_child": "14", "tag_party_member": ""}
    data.update({f"category_{code}": str(days) for code, days in [
        ("employment", 15), ("medical", 7), ("elderly_care", 7), ("housing", 30), ("sanitation", 7),
        ("public_security", 3), ("dispute", 7), ("policy", 5), ("other", 15)]})
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}  # None: not sent


def test_admin_sees_the_current_settings(auth, client, admin):
    auth.login("boss")
    body = client.get("/admin/settings/?lang=en").get_data(as_text=True)
    assert 'name="default_cycle_days" type="number"' in body and 'value="30"' in body
    assert "Elderly living alone" in body and "Medical care" in body
    assert 'name="unreachable_attempts" type="number"' in body and 'min="1" max="20" required' in body
    assert re.search(r'name="phone_calls_weekly" type="checkbox" value="1"\s+checked', body)
    assert "Attempts before a household is unreachable" in body
    assert "Phone calls count for households visited weekly" in body


def test_contact_settings_are_saved_audited_and_in_force(auth, client, db, admin, app):
    cell = factories.make_cell(db)
    weekly = factories.make_household(db, cell)
    factories.make_resident(db, weekly, tags=["elderly_alone"])
    member = factories.make_user(db)
    factories.make_visit(db, weekly, member, rules.iso(rules.utcnow()), outcome="phone_call")
    with app.test_request_context():
        before = clock(db)
    assert (before["unreachable_attempts"], before["phone_calls_weekly"]) == (3, True)
    assert households.with_status(db, before, household_id=weekly)[0]["status"] == "visited"
    auth.login("boss")
    data = form(auth.csrf_token(), unreachable_attempts="5", phone_calls_weekly=None)  # the box left unticked
    assert client.post("/admin/settings/", data=data).status_code == 302
    assert settings.current(db)["unreachable_attempts"] == 5 and settings.current(db)["phone_calls_weekly"] is False
    entry = database.one(db, "SELECT detail FROM audit_log WHERE action = 'settings'")
    assert json.loads(entry["detail"]) == {"unreachable_attempts": [3, 5], "phone_calls_weekly": [True, False]}
    with app.test_request_context():
        after = clock(db)
    assert (after["unreachable_attempts"], after["phone_calls_weekly"]) == (5, False)
    # A weekly household reached by phone only is due again; the phone call is no attempt either.
    [state] = households.with_status(db, after, household_id=weekly)
    assert (state["status"], state["attempted"]) == ("due", 0)
    body = client.get("/admin/settings/?lang=en").get_data(as_text=True)
    assert 'value="5"' in body and not re.search(r'name="phone_calls_weekly"[^>]*checked', body)
    assert client.post("/admin/settings/", data=data).status_code == 302  # the same again: nothing changes
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'settings'") == 1


@pytest.mark.parametrize("value", ["0", "21", "", "drei"])
def test_bad_attempts_change_nothing(auth, client, db, admin, value):
    auth.login("boss")
    response = client.post("/admin/settings/?lang=en", data=form(auth.csrf_token(), unreachable_attempts=value,
                                                                  phone_calls_weekly=None, category_medical="3"))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="error-unreachable_attempts"' in body and "from 1 to 20" in body
    assert not re.search(r'name="phone_calls_weekly"[^>]*checked', body)  # the form as sent, unticked
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'settings'") == 0
    assert settings.current(db)["phone_calls_weekly"] is True


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
    household = factories.make_household(db, factories.make_cell(db), last_visit_at="2026-02-20T02:00:00Z",
                                         last_contact_at="2026-02-20T02:00:00Z", last_met_at="2026-02-20T02:00:00Z")
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
