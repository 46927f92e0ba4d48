"""Members' service records: each figure of a past month against SQL written here, the member's own page, the
leaders' table and its export, points and ranking (off by default) and their bad weights."""
import csv
import io
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from fieldapp import rules
from fieldapp.data import service
from fieldapp.data.db import insert, rows, scalar, write
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")


def last_month():
    """The first and last day of the month before this one (Asia/Shanghai)."""
    first_of_this = rules.today(SHANGHAI).replace(day=1)
    return rules.month_period((first_of_this - timedelta(days=1)).year, (first_of_this - timedelta(days=1)).month)


def at(day, hour, minute=0):
    """A stored UTC timestamp of a local (Shanghai) time."""
    return rules.iso(datetime.combine(day, time(hour, minute), SHANGHAI))


@pytest.fixture
def world(db, app):
    """Grid A: cell A1 of m1 (三 households), A2 of m2 (one); leader lead; grid B: cell B1 of m3; admin boss. Last month
    m1 met, phoned, tried twice, had a visit rejected and one amended to an attempt; m2 met one of m1's households."""
    first, last = last_month()
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, a2, b1 = factories.make_cell(db, grid_a), factories.make_cell(db, grid_a), factories.make_cell(db, grid_b)
    m1 = factories.make_user(db, "member", "m1", display_name="党员B")
    m2 = factories.make_user(db, "member", "m2", display_name="党员A")
    m3 = factories.make_user(db, "member", "m3", display_name="党员C")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    for cell, member in ((a1, m1), (a2, m2), (b1, m3)):
        factories.assign(db, cell, member)
    h1, h2, h3 = (factories.make_household(db, a1, created_at="2020-01-01T00:00:00Z") for _ in range(3))
    h4 = factories.make_household(db, a2, created_at="2020-01-01T00:00:00Z")
    h5 = factories.make_household(db, b1, created_at="2020-01-01T00:00:00Z")
    mid = first + timedelta(days=10)
    visit = factories.make_visit
    visit(db, h1, m1, at(first, 0, 30), outcome="met")            # the month's first half hour (the day before, UTC)
    visit(db, h2, m1, at(mid, 10), outcome="phone_call")
    visit(db, h1, m1, at(mid, 11), outcome="nobody_home")
    visit(db, h3, m1, at(last, 23, 30), outcome="declined")       # its last half hour
    visit(db, h1, m1, at(first - timedelta(days=1), 23, 30))      # the month before
    visit(db, h1, m1, at(last + timedelta(days=1), 0, 30))        # this month
    rejected = visit(db, h2, m1, at(mid, 12))
    amended = visit(db, h3, m1, at(mid, 13))
    visit(db, h3, m2, at(mid, 14))
    visit(db, h5, m3, at(mid, 15))
    with write(db):
        insert(db, "visit_standing", {"visit_id": rejected, "outcome": "met", "rejected": 1}, returning=None)
        insert(db, "visit_standing", {"visit_id": amended, "outcome": "no_answer", "rejected": 0}, returning=None)
    r1 = factories.make_request(db, h1, m1, created_at=at(mid, 9))
    r2 = factories.make_request(db, h2, m1, created_at=at(mid, 9), status="resolved")
    factories.make_request(db, h3, m1, created_at=at(first - timedelta(days=3), 9))
    factories.make_request(db, h4, m2, created_at=at(mid, 9))
    with write(db):
        for request, user, kind, day in ((r1, m1, "progress", mid), (r1, m1, "resolved", mid),
                                         (r2, m1, "return_visit", mid), (r2, m1, "assigned", mid), (r1, m2, "progress", mid),
                                         (r2, m1, "progress", last + timedelta(days=1))):
            insert(db, "request_events", {"request_id": request, "user_id": user, "at": at(day, 16), "kind": kind,
                                          "data": "{}"})
        for user, day in ((m1, mid), (m1, mid), (m1, first - timedelta(days=2)), (m2, mid)):
            insert(db, "review_events", {"subject": "visit", "subject_id": rejected, "user_id": user, "at": at(day, 17),
                                         "action": "answer", "note": "说明"})
    # Photos: m1 two this month (one taken on the phone on its last evening, sent the next morning) and one the
    # month before; m2 one that still waits for its visit (not counted).
    for user, uploaded, taken, state in ((m1, at(mid, 10), None, "attached"), (m1, at(last + timedelta(days=1), 8),
                                          at(last, 20), "attached"), (m1, at(first - timedelta(days=2), 10), None,
                                          "attached"), (m2, at(mid, 10), None, "pending")):
        photo = factories.make_photo(db, app, user_id=user, uploaded_at=uploaded, state=state,
                                     content=f"{user}{uploaded}".encode())
        if taken:
            with write(db):
                db.execute("UPDATE photos SET taken_at = ? WHERE id = ?", [taken, photo])
    return {"m1": m1, "m2": m2, "m3": m3, "grid_a": grid_a, "grid_b": grid_b, "first": first, "last": last,
            "key": first.strftime("%Y-%m")}


def expected_by_sql(db, user, first, last):
    """Each figure of user's month, counted here with SQL of its own."""
    start, end = at(first, 0), at(last + timedelta(days=1), 0)
    window = {"u": user, "s": start, "e": end}
    standing = ("FROM visits v LEFT JOIN visit_standing vs ON vs.visit_id = v.id WHERE v.user_id = :u "
                "AND v.visited_at >= :s AND v.visited_at < :e AND coalesce(vs.rejected, 0) = 0 "
                "AND coalesce(vs.outcome, v.outcome) IN ")
    return {
        "contacts": scalar(db, f"SELECT count(*) {standing} ('met', 'met_elsewhere', 'phone_call')", window),
        "attempts": scalar(db, f"SELECT count(*) {standing} ('nobody_home', 'declined', 'no_answer')", window),
        # No tags, a month of 28 to 31 days and a cycle of 30: one contact by anyone covers a household.
        "in_cycle": scalar(db, "SELECT count(DISTINCT v.household_id) FROM visits v JOIN households h ON h.id = "
                               "v.household_id JOIN assignments a ON a.cell_id = h.cell_id AND a.user_id = :u "
                               "AND a.valid_to IS NULL LEFT JOIN visit_standing vs ON vs.visit_id = v.id "
                               "WHERE v.visited_at >= :s AND v.visited_at < :e AND coalesce(vs.rejected, 0) = 0 "
                               "AND coalesce(vs.outcome, v.outcome) IN ('met', 'met_elsewhere', 'phone_call')", window),
        "raised": scalar(db, "SELECT count(*) FROM requests WHERE created_by = :u AND created_at >= :s "
                             "AND created_at < :e", window),
        "followed_up": scalar(db, "SELECT count(DISTINCT request_id) FROM request_events WHERE user_id = :u "
                                  "AND at >= :s AND at < :e AND kind NOT IN ('created', 'assigned')", window),
        "resolved": scalar(db, "SELECT count(*) FROM request_events WHERE user_id = :u AND kind = 'resolved' "
                               "AND at >= :s AND at < :e", window),
        "return_visits": scalar(db, "SELECT count(*) FROM request_events WHERE user_id = :u "
                                    "AND kind = 'return_visit' AND at >= :s AND at < :e", window),
        "photos": scalar(db, "SELECT count(*) FROM photos WHERE user_id = :u AND state = 'attached' "
                             "AND coalesce(taken_at, uploaded_at) >= :s AND coalesce(taken_at, uploaded_at) < :e",
                         window),
        "answers": scalar(db, "SELECT count(*) FROM review_events WHERE user_id = :u AND action = 'answer' "
                              "AND at >= :s AND at < :e", window),
    }


def test_each_figure_equals_its_sql_and_the_month_is_local(app, db, world):
    from fieldapp.clock import clock

    month = {"start": world["first"], "end": world["last"]}
    with app.test_request_context():
        found = service.records(db, clock(db), month, [world["m1"], world["m2"], world["m3"]])
    for user in ("m1", "m2", "m3"):
        assert found[world[user]] == expected_by_sql(db, world[user], world["first"], world["last"]), user
    assert found[world["m1"]] == {"contacts": 2, "attempts": 3, "in_cycle": 3, "raised": 2, "followed_up": 2,
                                  "resolved": 1, "return_visits": 1, "photos": 2, "answers": 2}
    assert found[world["m2"]]["contacts"] == 1 and found[world["m2"]]["in_cycle"] == 0


def test_a_member_sees_their_own_record_of_a_past_month_without_points(auth, client, world):
    auth.login("m1")
    landing = client.get("/households/").get_data(as_text=True)
    assert 'href="/service/mine"' in landing
    page = client.get(f"/service/mine?month={world['key']}&lang=en").get_data(as_text=True)
    assert "<h1>My service record</h1>" in page
    assert "<dt>Contacts</dt><dd>2</dd>" in page and "<dt>Attempts</dt><dd>3</dd>" in page
    assert "<dt>Review questions answered</dt><dd>2</dd>" in page
    assert "Points" not in page  # off by default
    assert "我的服务记录" in client.get("/service/mine?lang=zh").get_data(as_text=True)


@pytest.mark.parametrize("month, problem", [("2999-01", "has not begun yet"), ("1999-13", "Give a month as YYYY-MM"),
                                            ("2001-01", "The records begin in")])
def test_a_month_that_cannot_be_shown_says_why_at_the_field(auth, client, world, month, problem):
    auth.login("m1")
    page = client.get(f"/service/mine?month={month}&lang=en")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="error-month"' in text and problem in text
    assert f'value="{rules.today(SHANGHAI).strftime("%Y-%m")}"' in text  # this month instead


def test_leaders_see_their_grid_in_name_order_and_export_it_audited(auth, client, db, world):
    auth.login("lead")
    page = client.get(f"/service/?month={world['key']}&lang=en").get_data(as_text=True)
    assert page.index("党员A") < page.index("党员B") and "党员C" not in page  # name order, grid A only
    assert "Rank" not in page and "In name order." in page
    export = client.get(f"/service/export?month={world['key']}&grid={world['grid_b']}")
    assert export.status_code == 200 and export.headers["Content-Disposition"].startswith("attachment")
    table = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert table[0][:4] == ["党员", "账号", "联系", "尝试未联系"]
    assert [row[:4] for row in table[1:]] == [["党员A", "m2", "1", "0"], ["党员B", "m1", "2", "3"]]  # not grid B
    entry = rows(db, "SELECT target_type, detail FROM audit_log WHERE action = 'export'")
    assert entry[0]["target_type"] == "service_records" and world["key"] in entry[0]["detail"]


def test_points_are_the_admins_weights_and_bad_weights_save_nothing(auth, client, db, world):
    auth.login("boss")
    form = {f"weight_{figure}": "1" for figure in service.FIGURES}
    token = auth.csrf_token("/service/points")
    bad = client.post("/service/points?lang=en", data={**form, "weight_resolved": "两分", "points": "1",
                                                      "csrf_token": token})
    assert bad.status_code == 422
    assert 'id="error-weight_resolved"' in bad.get_data(as_text=True)
    assert "Enter a number from 0 to 100" in bad.get_data(as_text=True)
    assert service.points_settings(db)["points"] is False  # nothing saved
    assert scalar(db, "SELECT count(*) FROM settings WHERE key LIKE 'service%'") == 0
    saved = client.post("/service/points", data={**form, "weight_resolved": "2.5", "points": "1", "ranking": "1",
                                                 "csrf_token": token})
    assert saved.status_code == 302
    settings = service.points_settings(db)
    assert settings["points"] and settings["ranking"] and settings["weights"]["resolved"] == 2.5
    page = client.get(f"/service/?grid={world['grid_a']}&month={world['key']}&lang=en").get_data(as_text=True)
    # m1: 2 + 3 + 3 + 2 + 2 + 2.5 + 1 + 2 (photos) + 2 = 19.5; m2: 1 + 1 (followed up) + 1 (raised) + 1 (answer) = 4
    assert "<td>19.5</td>" in page and "<td>4</td>" in page
    assert page.index("党员B") < page.index("党员A")  # ranked: m1 first
    auth.logout()
    auth.login("m1")
    assert "<dt>Points</dt><dd>19.5</dd>" in client.get(f"/service/mine?month={world['key']}&lang=en").get_data(
        as_text=True)
