"""The ledger: every transition, the list and its filters, the request page, each action with its bad
input, who may do what, requests entered directly, and the return visits due."""
import itertools
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from fieldapp import rules
from fieldapp.data import db as database
from fieldapp.data import ledger
from tests import factories

# What each action does from each status; every other pair is refused.
LEGAL = {
    ("open", "progress"): "in_progress", ("in_progress", "progress"): "in_progress",
    ("open", "resolve"): "resolved", ("in_progress", "resolve"): "resolved",
    ("resolved", "confirm"): "closed", ("resolved", "reopen"): "open",
    ("open", "assign"): "open", ("in_progress", "assign"): "in_progress", ("resolved", "assign"): "resolved",
    ("open", "refer"): "open", ("in_progress", "refer"): "in_progress",
}
PAIRS = list(itertools.product(rules.REQUEST_STATUSES, rules.LEDGER_ACTIONS))


@pytest.mark.parametrize("status, action", [pair for pair in PAIRS if pair in LEGAL])
def test_every_legal_transition(status, action):
    assert rules.transition(status, action) == LEGAL[(status, action)]
    assert action in rules.allowed_actions(status)


@pytest.mark.parametrize("status, action", [pair for pair in PAIRS if pair not in LEGAL] + [("open", "close")])
def test_every_illegal_transition_is_refused(status, action):
    with pytest.raises(rules.IllegalTransition):
        rules.transition(status, action)
    assert action not in rules.allowed_actions(status)


def test_days_late():
    from datetime import date

    assert rules.days_late(date(2024, 2, 28), date(2024, 3, 1)) == 2  # over a leap day
    assert rules.days_late(date(2024, 3, 1), date(2024, 3, 1)) == 0


@pytest.fixture
def world(db):
    """Grid A (A1 of m1, A2 of m2) led by `lead`; grid B (B1 of m3) led by `lead2`; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, a2 = factories.make_cell(db, grid_a, name="甲一区"), factories.make_cell(db, grid_a, name="甲二区")
    b1 = factories.make_cell(db, grid_b, name="乙一区")
    m1 = factories.make_user(db, "member", "m1", display_name="张三")
    m2 = factories.make_user(db, "member", "m2", display_name="李四")
    m3 = factories.make_user(db, "member", "m3", display_name="王五")
    lead = factories.make_user(db, "leader", "lead", grid_id=grid_a, display_name="赵网格长")
    factories.make_user(db, "leader", "lead2", grid_id=grid_b)
    boss = factories.make_user(db, "admin", "boss")
    for cell, member in ((a1, m1), (a2, m2), (b1, m3)):
        factories.assign(db, cell, member)
    h1 = factories.make_household(db, a1, address="甲一 1号")
    h2 = factories.make_household(db, a2, address="甲二 1号")
    h3 = factories.make_household(db, b1, address="乙一 1号")
    factories.make_resident(db, h1, name="孙大妈")
    requests = {
        "open": factories.make_request(db, h1, m1, description="楼道灯坏了", category="sanitation"),
        "late": factories.make_request(db, h1, m1, status="in_progress", due_date="2020-01-01",
                                       description="门禁坏了", category="public_security"),
        "resolved": factories.make_request(db, h1, m1, status="resolved", resolution="已修好",
                                           description="水管漏水", category="housing"),
        "closed": factories.make_request(db, h1, m1, status="closed", description="咨询低保", category="policy"),
        "a2": factories.make_request(db, h2, m2, description="甲二的诉求"),
        "b1": factories.make_request(db, h3, m3, description="乙一的诉求"),
    }
    return dict(grid_a=grid_a, a1=a1, a2=a2, b1=b1, m1=m1, m2=m2, m3=m3, lead=lead, boss=boss, h1=h1, h2=h2, h3=h3,
                requests=requests)


def state(db, request_id):
    """A request's row and its number of events."""
    row = database.one(db, "SELECT status, version, responsible_user_id, due_date, referral, resolution "
                           "FROM requests WHERE id = ?", [request_id])
    row["events"] = database.scalar(db, "SELECT count(*) FROM request_events WHERE request_id = ?", [request_id])
    return row


def post(client, auth, path, **data):
    return client.post(path, data={"csrf_token": auth.csrf_token(), **data})


# ---- The list ----

def test_list_shows_the_scope_with_counts(auth, client, world):
    auth.login("lead")
    body = client.get("/ledger/?lang=en").get_data(as_text=True)
    assert "楼道灯坏了" in body and "甲二的诉求" in body and "乙一的诉求" not in body
    assert 'data-count="open">2<' in body and 'data-count="overdue">1<' in body
    assert "Ledger" in body and "Overdue" in body


def test_list_filters(auth, client, world):
    auth.login("lead")
    body = client.get("/ledger/?overdue=1").get_data(as_text=True)
    assert "门禁坏了" in body and "楼道灯坏了" not in body
    body = client.get(f"/ledger/?cell={world['a2']}").get_data(as_text=True)
    assert "甲二的诉求" in body and "楼道灯坏了" not in body
    body = client.get("/ledger/?status=resolved&category=housing").get_data(as_text=True)
    assert "水管漏水" in body and "咨询低保" not in body
    body = client.get(f"/ledger/?responsible={world['m2']}").get_data(as_text=True)
    assert "甲二的诉求" in body and "楼道灯坏了" not in body
    body = client.get("/ledger/?raised_from=2000-01-01&raised_to=2000-01-02").get_data(as_text=True)
    assert "楼道灯坏了" not in body and "甲二的诉求" not in body
    body = client.get("/ledger/?category=nonsense&cell=99999&lang=en").get_data(as_text=True)
    assert "Unknown category filter ignored." in body and "Unknown cell filter ignored." in body
    assert "楼道灯坏了" in body
    fragment = client.get("/ledger/?status=open", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "楼道灯坏了" in fragment


def test_raised_dates_begin_at_that_days_local_midnight_in_summer_and_in_winter_time(app, auth, client, db, world):
    app.config["TIMEZONE"] = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    offset = lambda day: datetime.combine(day, time(12), berlin).utcoffset()  # noqa: E731
    today = rules.today(berlin)
    # A day of the other season than today (the day before and after too): today's offset would miss its midnight.
    day = next(today - timedelta(days=n) for n in range(2, 366)
               if offset(today - timedelta(days=n)) != offset(today)
               and offset(today - timedelta(days=n - 1)) == offset(today - timedelta(days=n + 1)) == offset(today - timedelta(days=n)))
    at = lambda moment: rules.iso(moment.replace(tzinfo=berlin))  # noqa: E731
    factories.make_request(db, world["h1"], world["m1"], description="那天凌晨的诉求",
                           created_at=at(datetime.combine(day, time(0, 30))))
    factories.make_request(db, world["h1"], world["m1"], description="前一天深夜的诉求",
                           created_at=at(datetime.combine(day - timedelta(days=1), time(23, 30))))
    factories.make_request(db, world["h1"], world["m1"], description="第二天凌晨的诉求",
                           created_at=at(datetime.combine(day + timedelta(days=1), time(0, 30))))
    auth.login("lead")
    body = client.get(f"/ledger/?raised_from={day}&raised_to={day}").get_data(as_text=True)
    assert "那天凌晨的诉求" in body
    assert "前一天深夜的诉求" not in body and "第二天凌晨的诉求" not in body


def test_member_sees_own_households_and_return_visits_due(auth, client, world):
    auth.login("m1")
    body = client.get("/ledger/?lang=en").get_data(as_text=True)
    assert "楼道灯坏了" in body and "甲二的诉求" not in body
    due = body.split("Return visits due", 1)[1].split("</section>", 1)[0]
    assert "水管漏水" in due and "楼道灯坏了" not in due


def test_households_awaiting_a_return_visit(db, world):
    assert ledger.households_awaiting_return_visit(db, [world["a1"]]) == {world["h1"]: 1}
    assert ledger.households_awaiting_return_visit(db, None, user_id=world["m2"]) == {}
    assert [r["id"] for r in ledger.awaiting_return_visit(db, {"cell_ids": None, "user_id": None})] == [
        world["requests"]["resolved"]]


# ---- The request page and who may see it ----

def test_request_page_shows_its_history(auth, client, world):
    auth.login("lead")
    body = client.get(f"/ledger/{world['requests']['resolved']}?lang=en").get_data(as_text=True)
    assert "水管漏水" in body and "甲一 1号" in body and "已修好" in body
    assert "Return visit" in body and ">Close<" in body and ">Reopen<" in body
    assert 'id="assign"' in body and 'id="refer"' not in body  # a resolved request is not referred any more
    assert 'id="resolve"' not in body and 'id="progress"' not in body


def test_member_gets_no_leader_actions(auth, client, world):
    auth.login("m1")
    body = client.get(f"/ledger/{world['requests']['open']}?lang=en").get_data(as_text=True)
    assert 'id="progress"' in body and 'id="resolve"' in body
    assert 'id="assign"' not in body and 'id="refer"' not in body and 'id="return-visit"' not in body


@pytest.mark.parametrize("user, key, code", [
    ("m1", "open", 200), ("m1", "a2", 404), ("m1", "b1", 404), ("m2", "a2", 200),
    ("lead", "a2", 200), ("lead", "b1", 404), ("lead2", "b1", 200), ("lead2", "open", 404), ("boss", "b1", 200),
])
def test_request_page_scope(auth, client, world, user, key, code):
    auth.login(user)
    assert client.get(f"/ledger/{world['requests'][key]}").status_code == code


def test_unknown_request_is_404(auth, client, world):
    auth.login("boss")
    assert client.get("/ledger/999999").status_code == 404


def test_member_may_see_a_request_they_answer_for_elsewhere(auth, client, db, world):
    with database.write(db):
        db.execute("UPDATE requests SET responsible_user_id = ? WHERE id = ?", [world["m1"], world["requests"]["a2"]])
    auth.login("m1")
    assert client.get(f"/ledger/{world['requests']['a2']}").status_code == 200


# ---- The lifecycle through the routes ----

def test_lifecycle_open_to_closed_with_events(auth, client, db, world):
    request_id = world["requests"]["open"]
    auth.login("m1")
    response = post(client, auth, f"/ledger/{request_id}/progress", version="1", note="已联系物业")
    assert response.status_code == 302
    assert state(db, request_id)["status"] == "in_progress"
    post(client, auth, f"/ledger/{request_id}/resolve", version="2", resolution="物业已更换灯泡")
    assert state(db, request_id)["status"] == "resolved"
    post(client, auth, f"/ledger/{request_id}/return-visit", version="3", channel="door", answer="not_satisfied",
         feedback="二楼的灯还是不亮")
    after = state(db, request_id)
    assert (after["status"], after["resolution"]) == ("open", None)
    post(client, auth, f"/ledger/{request_id}/resolve", version="4", resolution="二楼也换好了")
    response = post(client, auth, f"/ledger/{request_id}/return-visit", version="5", channel="phone",
                    answer="satisfied", feedback="满意")
    assert response.status_code == 302
    page = client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "居民满意，诉求已办结" in page  # the flash, in the language of the form that was sent
    assert "This request is closed: the resident confirmed" in page
    events = ledger.events(db, request_id)
    assert [(e["kind"], e["to_status"]) for e in events] == [
        ("created", "open"), ("progress", "in_progress"), ("resolved", "resolved"), ("return_visit", "open"),
        ("resolved", "resolved"), ("return_visit", "closed")]
    assert all(e["user_id"] == world["m1"] and e["at"] for e in events[1:])
    assert events[3]["data"] == {"channel": "door", "satisfied": False} and events[3]["note"] == "二楼的灯还是不亮"
    assert events[-1]["data"]["satisfied"] is True
    assert "Return visit: satisfied" in page and "by phone" in page


def test_leader_assigns_and_refers(auth, client, db, world):
    request_id = world["requests"]["open"]
    due = rules.add_months(rules.today(), 1).isoformat()
    auth.login("lead")
    response = post(client, auth, f"/ledger/{request_id}/assign", version="1", responsible_user_id=str(world["m2"]),
                    due_date=due, note="请李四跟进")
    assert response.status_code == 302
    after = state(db, request_id)
    assert (after["responsible_user_id"], after["due_date"], after["status"], after["version"]) == (
        world["m2"], due, "open", 2)
    post(client, auth, f"/ledger/{request_id}/refer", version="2", referral="affairs_center")
    assert state(db, request_id)["referral"] == "affairs_center"
    events = ledger.events(db, request_id)
    assert events[1]["kind"] == "assigned" and events[1]["assignee"] == "李四"
    assert events[1]["data"]["previous_responsible_user_id"] == world["m1"]
    assert events[2]["kind"] == "referred" and events[2]["user_id"] == world["lead"]
    page = client.get(f"/ledger/{request_id}").get_data(as_text=True)
    assert "社区事务受理中心" in page and "交办给 李四" in page


def test_assign_proposes_a_due_date_from_the_category(auth, client, world):
    auth.login("lead")
    body = client.get(f"/ledger/{world['requests']['open']}").get_data(as_text=True)
    proposed = (rules.today() + __import__("datetime").timedelta(days=7)).isoformat()  # sanitation: 7 days
    assert f'name="due_date" type="date" min="{rules.today().isoformat()}" value="{proposed}"' in body


# ---- Bad input: a clear message, nothing changed ----

@pytest.mark.parametrize("key, action, data, field_text", [
    ("open", "assign", {"responsible_user_id": "M2", "due_date": "2000-01-01"}, "The due date lies in the past"),
    ("open", "assign", {"responsible_user_id": "M3", "due_date": "2099-01-01"}, "Choose a responsible person of this grid."),
    ("open", "assign", {"responsible_user_id": "M2", "due_date": "soon"}, "Enter the due date as a date."),
    ("open", "refer", {"referral": "police"}, "Choose the service platform"),
    ("open", "resolve", {"resolution": "   "}, "Resolving needs a resolution"),
    ("open", "progress", {"note": ""}, "Write what was done."),
    ("resolved", "return-visit", {"channel": "door"}, "Closing needs the resident&#39;s confirmation"),
    ("resolved", "return-visit", {"answer": "satisfied"}, "Closing needs a return visit"),
    ("resolved", "return-visit", {"channel": "door", "answer": "not_satisfied"}, "Write what the resident is not satisfied with."),
])
def test_bad_input_changes_nothing(auth, client, db, world, key, action, data, field_text):
    request_id = world["requests"][key]
    data = {k: str(world[v.lower()]) if v in ("M2", "M3") else v for k, v in data.items()}
    before = state(db, request_id)
    auth.login("lead")
    response = client.post(f"/ledger/{request_id}/{action}?lang=en",
                           data={"csrf_token": auth.csrf_token(), "version": str(before["version"]), **data})
    assert response.status_code == 422
    assert field_text in response.get_data(as_text=True)
    assert state(db, request_id) == before


def test_closing_an_open_request_is_refused(auth, client, db, world):
    request_id = world["requests"]["open"]
    before = state(db, request_id)
    auth.login("lead")
    response = client.post(f"/ledger/{request_id}/return-visit?lang=en", data={
        "csrf_token": auth.csrf_token(), "version": "1", "channel": "phone", "answer": "satisfied"})
    assert response.status_code == 409
    assert "Only a resolved request can be closed" in response.get_data(as_text=True)
    assert state(db, request_id) == before


def test_a_stale_page_changes_nothing(auth, client, db, world):
    request_id = world["requests"]["open"]
    ledger.apply(db, request_id, "progress", user_id=world["m1"], at=rules.iso(rules.utcnow()), note="别人先改了")
    before = state(db, request_id)
    auth.login("lead")
    response = client.post(f"/ledger/{request_id}/resolve?lang=en", data={
        "csrf_token": auth.csrf_token(), "version": "1", "resolution": "已解决"})
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "Someone else changed this request meanwhile" in body and "别人先改了" in body
    assert state(db, request_id) == before


def test_another_households_request_is_refused_in_the_data_layer(db, world):
    with pytest.raises(rules.IllegalTransition):
        ledger.apply(db, world["requests"]["a2"], "progress", user_id=world["m1"], at=rules.iso(rules.utcnow()),
                     note="x", household_id=world["h1"])
    assert state(db, world["requests"]["a2"])["events"] == 1


# ---- Who may do what ----

@pytest.mark.parametrize("user, action, key, code", [
    ("m1", "progress", "open", 302), ("m1", "assign", "open", 403), ("m1", "refer", "open", 403),
    ("m1", "progress", "a2", 404), ("m2", "resolve", "a2", 302), ("lead", "progress", "a2", 302),
    ("lead", "progress", "b1", 404), ("lead", "refer", "b1", 404), ("boss", "refer", "b1", 302),
])
def test_who_may_act(auth, client, world, user, action, key, code):
    auth.login(user)
    data = {"version": "1", "note": "进展", "resolution": "已解决", "referral": "health_center"}
    response = client.post(f"/ledger/{world['requests'][key]}/{action}", data={"csrf_token": auth.csrf_token(), **data})
    assert response.status_code == code


# ---- A request entered directly ----

def test_leader_enters_a_request_from_a_phone_call(auth, client, db, world):
    auth.login("lead")
    found = client.post("/ledger/new", data={"q": "孙大妈", "csrf_token": auth.csrf_token("/ledger/new")}
                        ).get_data(as_text=True)
    assert "孙大妈" not in client.get("/ledger/new?q=孙大妈").get_data(as_text=True).split("<main", 1)[-1]
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'search'") == 1
    assert f"/ledger/new?household={world['h1']}" in found
    form = client.get(f"/ledger/new?household={world['h1']}").get_data(as_text=True)
    assert f'<option value="{world["m1"]}" selected>' in form  # the cell's member is proposed
    request_uuid = str(uuid.uuid4())
    data = {"csrf_token": auth.csrf_token(), "uuid": request_uuid, "household": str(world["h1"]), "channel": "phone",
            "category": "elderly_care", "description": "想申请助餐服务", "responsible_user_id": str(world["m1"]),
            "due_date": ""}
    response = client.post(f"/ledger/new?household={world['h1']}", data=data)
    assert response.status_code == 302
    row = database.one(db, "SELECT * FROM requests WHERE uuid = ?", [request_uuid])
    assert (row["status"], row["created_by"], row["visit_id"], row["category"]) == ("open", world["lead"], None,
                                                                                    "elderly_care")
    assert row["due_date"] == rules.request_due_date(rules.today(), 7).isoformat()
    [event] = ledger.events(db, row["id"])
    assert (event["kind"], event["data"]["channel"], event["user_id"]) == ("created", "phone", world["lead"])
    client.post(f"/ledger/new?household={world['h1']}", data={**data, "csrf_token": auth.csrf_token()})
    assert database.scalar(db, "SELECT count(*) FROM requests WHERE uuid = ?", [request_uuid]) == 1


def test_new_request_bad_input_and_scope(auth, client, db, world):
    auth.login("lead")
    count = database.scalar(db, "SELECT count(*) FROM requests")
    response = client.post(f"/ledger/new?household={world['h1']}&lang=en", data={
        "csrf_token": auth.csrf_token(), "household": str(world["h1"]), "channel": "phone", "category": "astrology",
        "description": "", "responsible_user_id": str(world["m3"]), "due_date": "2000-01-01"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    for text in ("Choose a category for the request.", "Describe what the resident needs.",
                 "Choose a responsible person of this grid.", "The due date lies in the past"):
        assert text in body
    assert database.scalar(db, "SELECT count(*) FROM requests") == count
    assert client.get(f"/ledger/new?household={world['h3']}").status_code == 404
    auth.logout()
    auth.login("m1")
    assert client.get(f"/ledger/new?household={world['h1']}").status_code == 403
