"""Numbers and dates read from URLs, query strings and forms: their bounds, and the pages that read them
answering with a message that names the field instead of a server error."""
import html
from datetime import date, timedelta

import pytest

from fieldapp import inputs, rules
from fieldapp.data import db as database
from tests import factories


def test_a_whole_number_is_read_within_its_bounds():
    assert inputs.whole_number("42") == 42 and inputs.whole_number(" 7 ") == 7
    assert inputs.whole_number("１２") == 12  # full-width digits, as a Chinese keyboard may type them
    assert inputs.whole_number(str(2**63 - 1)) == 2**63 - 1
    for raw in (None, "", "x", "-1", "1.5", "1e3", "²", str(2**63), "9" * 5000):
        assert inputs.whole_number(raw) is None, raw
    assert inputs.whole_number("5", low=30, high=3650) is None and inputs.record_id("0") is None


@pytest.fixture
def english(app):
    """A request in English, for the worded messages."""
    with app.test_request_context("/?lang=en"):
        yield


def test_a_day_is_read_from_2000_to_a_year_ahead(english):
    today = date(2026, 11, 28)
    assert inputs.day(" 2026-02-28 ", "First day", today) == date(2026, 2, 28)
    assert inputs.day("", "First day", today) is None
    assert inputs.day("2027-11-29", "First day", today) == date(2027, 11, 29)
    for raw, message in [
            ("0001-01-01", "First day: give a date from 2000-01-01 to 2027-11-29."),
            ("9999-12-31", "First day: give a date from 2000-01-01 to 2027-11-29."),
            ("2027-11-30", "First day: give a date from 2000-01-01 to 2027-11-29."),
            ("2026-02-30", "First day: give a date as YYYY-MM-DD, e.g. 2026-11-28."),
            ("tomorrow", "First day: give a date as YYYY-MM-DD, e.g. 2026-11-28.")]:
        with pytest.raises(inputs.BadValue) as refused:
            inputs.day(raw, "First day", today)
        assert refused.value.message == message, raw


def test_a_page_past_the_last_is_the_last(english):
    assert inputs.page_number("", 4) == (1, None) and inputs.page_number("3", 4) == (3, None)
    assert inputs.page_number("99999999999999999999", 4) == (4, "Page: the last page is 4; showing it.")
    assert inputs.page_number("1" + "0" * 5000, 4) == (4, "Page: the last page is 4; showing it.")
    assert inputs.page_number("²", 4) == (1, "Page: ² is not a page number; showing the first page.")
    assert inputs.page_number("0", 4)[0] == 1


@pytest.fixture
def world(db):
    """A grid with a cell held by member m1, its leader, the admin, a household and 55 requests."""
    grid = factories.make_grid(db)
    cell = factories.make_cell(db, grid)
    member = factories.make_user(db, "member", "m1")
    factories.make_user(db, "leader", "lead", grid_id=grid)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, cell, member)
    household = factories.make_household(db, cell)
    requests = [factories.make_request(db, household, member, description=f"诉求{n:02d}", due_date=f"2099-01-{n % 28 + 1:02d}")
                for n in range(55)]
    return {"cell": cell, "household": household, "requests": requests}


def page_of(client, url):
    """The status and the text of a page, its entities unescaped."""
    response = client.get(url)
    return response.status_code, html.unescape(response.get_data(as_text=True))


def latest():
    """The latest day a form accepts today, as text."""
    return inputs.latest_day(rules.today()).isoformat()


def test_ledger_dates_far_out_are_named_and_ignored(client, auth, world):
    auth.login("lead")
    status, page = page_of(client, "/ledger/?raised_from=0001-01-01&lang=en")
    assert status == 200 and f"Raised from: give a date from 2000-01-01 to {latest()}. The date was ignored." in page
    assert "诉求00" in page  # the filter was dropped, not the list
    status, page = page_of(client, "/ledger/?raised_to=9999-12-31&lang=en")
    assert status == 200 and f"Raised until: give a date from 2000-01-01 to {latest()}. The date was ignored." in page
    status, page = page_of(client, "/ledger/?raised_from=2026-03-01&raised_to=2026-02-01&lang=en")
    assert status == 200 and "Raised until: not before 2026-03-01. The date was ignored." in page


def test_a_ledger_page_past_the_last_shows_the_last(client, auth, world):
    auth.login("lead")
    status, page = page_of(client, "/ledger/?page=99999999999999999999&lang=en")
    assert status == 200 and "Page: the last page is 2; showing it." in page
    assert "诉求54" in page and "诉求00" not in page  # the 5 requests of page 2, due last
    status, page = page_of(client, "/ledger/?page=²&lang=en")
    assert status == 200 and "Page: ² is not a page number; showing the first page." in page and "诉求00" in page


def test_coverage_refuses_a_period_out_of_range_or_too_long(client, auth, world):
    auth.login("lead")
    today = rules.today()
    for query, message in [
            (f"start=0001-01-01&end={today}", f"First day: give a date from 2000-01-01 to {latest()}."),
            (f"start={today}&end=9999-12-31", f"Last day: give a date from 2000-01-01 to {latest()}."),
            (f"start={today - timedelta(days=366)}&end={today}", "Last day: a period holds at most 366 days."),
            (f"start={today}&end={today - timedelta(days=1)}", "Last day: not before the first day."),
            (f"start={today}", "Last day: give both the first and the last day.")]:
        for path in ("/coverage/?", "/coverage/print?", f"/coverage/not-visited?cell={world['cell']}&"):
            url = f"{path}{query}&lang=en"
            status, page = page_of(client, url)
            assert status == 200 and f"{message} Showing the current cycle." in page, url
    status, page = page_of(client, f"/coverage/?start={today - timedelta(days=365)}&end={today}&lang=en")
    assert status == 200 and "Showing the current cycle" not in page  # a year of 366 days is a period
    status, page = page_of(client, "/coverage/?period=0001-01&lang=en")
    assert "That period cannot be reviewed; showing the current cycle." in page


def test_coverage_names_the_field_in_chinese(client, auth, world):
    auth.login("lead")
    status, page = page_of(client, f"/coverage/?start=0001-01-01&end={rules.today()}&lang=zh")
    assert status == 200 and f"起始日期：请填写 2000-01-01 至 {latest()} 之间的日期。现显示本周期。" in page


def test_audit_and_export_dates_far_out_are_named(client, auth, world):
    auth.login("boss")
    status, page = page_of(client, "/privacy/audit?from=0001-01-01&to=9999-12-31&lang=en")
    assert status == 200 and f"From: give a date from 2000-01-01 to {latest()}." in page
    assert f"To: give a date from 2000-01-01 to {latest()}." in page
    status, page = page_of(client, "/privacy/audit?before=99999999999999999999&target_id=" + "9" * 5000)
    assert status == 200
    status, page = page_of(client, "/admin/export/visits.csv?from=0001-01-01&lang=en")
    assert status == 422 and f"From: give a date from 2000-01-01 to {latest()}." in page
    status, page = page_of(client, "/admin/export/visits.csv?from=2026-03-01&until=2026-02-01&lang=en")
    assert status == 422 and "Until: not before 2026-03-01." in page


def test_ids_past_sqlite_integers_find_nothing(client, auth, world):
    auth.login("lead")
    huge = "99999999999999999999"
    for url in (f"/households/{huge}", f"/ledger/{huge}", f"/map/cells/{huge}", f"/assignments/cells/{huge}",
                f"/households/{world['household']}/visits/{huge}/amend", f"/privacy/residents/{huge}/export.json"):
        assert client.get(url).status_code == 404, url
    status, page = page_of(client, f"/ledger/new?household={huge}&lang=en")
    assert status == 200 and 'name="q"' in page  # the household search, as for no household
    status, page = page_of(client, f"/ledger/?cell=²&responsible={huge}&lang=en")
    assert "Unknown cell filter ignored." in page and "Unknown responsible person filter ignored." in page
    status, page = page_of(client, f"/coverage/?grid={huge}")
    assert status == 200


def test_a_members_list_ignores_an_impossible_building(client, auth, world):
    auth.login("m1")
    status, page = page_of(client, "/households/?building=²&lang=en")
    assert status == 200 and "Unknown building filter ignored." in page


def test_a_due_date_far_ahead_is_refused(client, auth, db, world):
    request_id = world["requests"][0]
    auth.login("lead")
    member = database.scalar(db, "SELECT id FROM users WHERE username = 'm1'")
    for due, message in [("9999-12-31", f"Due date: give a date from 2000-01-01 to {latest()}."),
                         ("2026-02-30", "Enter the due date as a date.")]:
        response = client.post(f"/ledger/{request_id}/assign?lang=en", data={
            "csrf_token": auth.csrf_token(), "version": "1", "responsible_user_id": str(member), "due_date": due})
        assert response.status_code == 422 and message in html.unescape(response.get_data(as_text=True))
    response = client.post(f"/ledger/{request_id}/progress?lang=en", data={
        "csrf_token": auth.csrf_token(), "version": "²", "note": "已联系"})
    assert response.status_code == 422 and "The form is incomplete; reload the page." in response.get_data(as_text=True)
    assert database.scalar(db, "SELECT version FROM requests WHERE id = ?", [request_id]) == 1


def test_a_retention_period_of_5000_digits_is_refused(client, auth, world):
    auth.login("boss")
    response = client.post("/privacy/retention?lang=en", data={"retention_days": "9" * 5000,
                                                               "csrf_token": auth.csrf_token("/privacy/")})
    assert response.status_code == 422 and "A number of days from 30 to 3650." in response.get_data(as_text=True)


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_visit_time_at_the_ends_of_the_calendar_is_refused_not_a_server_error(client, auth, db, world, moment):
    auth.login("m1")
    token = auth.csrf_token(f"/households/{world['household']}/visits/new")
    form = client.post(f"/households/{world['household']}/visits", data={
        "csrf_token": token, "uuid": "c0ffee00-0000-4000-8000-000000000001", "outcome": "met", "visited_at": moment})
    assert form.status_code == 422
    answer = client.post("/api/visits", headers={"X-CSRFToken": token}, json={"visits": [
        {"uuid": "c0ffee00-0000-4000-8000-000000000002", "household_id": world["household"], "outcome": "met",
         "visited_at": moment}]})
    assert answer.status_code == 200 and answer.get_json()["results"][0]["status"] == "rejected"
    assert database.scalar(db, "SELECT count(*) FROM visits") == 0


def test_a_follow_up_id_of_thousands_of_digits_is_refused_not_a_server_error(client, auth, db, world):
    auth.login("m1")
    token = auth.csrf_token("/households/")
    answer = client.post("/api/visits", headers={"X-CSRFToken": token}, json={"visits": [
        {"uuid": "c0ffee00-0000-4000-8000-000000000003", "household_id": world["household"], "outcome": "met",
         "followups": [{"request_id": "9" * 5000, "action": "resolve", "note": "x"}]}]})
    assert answer.status_code == 200 and answer.get_json()["results"][0]["status"] == "rejected"


def test_the_not_visited_lists_since_is_read_as_a_time_or_not_at_all(client, auth, world):
    auth.login("m1")
    for since in ["9" * 40, "0001-01-01T00:00:00+05:00", "<script>"]:
        status, page = page_of(client, f"/coverage/not-visited?cell={world['cell']}&since={since}")
        assert status == 200 and "<script>" not in page.split("<main", 1)[-1].replace("<script src", "")
    # A NUL character no database stores: refused before the list, naming the field.
    status, page = page_of(client, f"/coverage/not-visited?cell={world['cell']}&since=%00&lang=en")
    assert status == 400 and "“since” holds a NUL character" in page
