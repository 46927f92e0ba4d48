"""Assignments: assign, transfer in one step, end; the history answers who was responsible on a day."""
from datetime import date, timedelta

import pytest

from fieldapp.data import assignments
from fieldapp.data import db as database
from fieldapp.data.assignments import AssignmentError
from tests import factories


@pytest.fixture
def world(db):
    """Grid A (cells A1, A2) led by `lead`, grid B (cell B1); members m1, m2; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1 = factories.make_cell(db, grid_a, lon=120.10, code="A1")
    a2 = factories.make_cell(db, grid_a, lon=120.11, code="A2")
    b1 = factories.make_cell(db, grid_b, lon=120.12, code="B1")
    m1, m2 = factories.make_user(db, "member", "m1"), factories.make_user(db, "member", "m2")
    lead = factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    household = factories.make_household(db, a1, address="翠苑 1号")
    return dict(a1=a1, a2=a2, b1=b1, m1=m1, m2=m2, lead=lead, household=household)


def holders(db, cell_id, at):
    """Usernames of the members holding cell_id at the UTC timestamp at."""
    return [r["username"] for r in database.rows(
        db, "SELECT u.username FROM assignments a JOIN users u ON u.id = a.user_id WHERE a.cell_id = ? "
            "AND a.valid_from <= ? AND (a.valid_to IS NULL OR a.valid_to > ?) ORDER BY u.username", [cell_id, at, at])]


def test_history_answers_who_was_responsible_for_a_cell_on_a_day(db, world):
    assignments.assign(db, world["a1"], world["m1"], world["lead"], at="2026-03-01T01:00:00Z")
    assignments.transfer(db, world["a1"], world["m1"], world["m2"], world["lead"], at="2026-06-10T04:00:00Z")
    on = lambda day: [(r["username"], r["valid_from"], r["valid_to"])  # noqa: E731
                      for r in assignments.responsible_on(db, world["a1"], date.fromisoformat(day))]
    assert on("2026-02-28") == []
    assert on("2026-03-01") == [("m1", "2026-03-01T01:00:00Z", "2026-06-10T04:00:00Z")]
    assert on("2026-05-20") == [("m1", "2026-03-01T01:00:00Z", "2026-06-10T04:00:00Z")]
    # The day of the hand-over (Shanghai time) had both; the next day only the new member.
    assert [r[0] for r in on("2026-06-10")] == ["m1", "m2"]
    assert on("2026-06-11") == [("m2", "2026-06-10T04:00:00Z", None)]
    # At the moment of the transfer exactly one member holds the cell: nobody in between, nobody twice.
    assert holders(db, world["a1"], "2026-06-10T03:59:59Z") == ["m1"]
    assert holders(db, world["a1"], "2026-06-10T04:00:00Z") == ["m2"]


def test_a_member_can_hold_several_cells_and_a_cell_several_members(db, world):
    assignments.assign(db, world["a1"], world["m1"], world["lead"])
    assignments.assign(db, world["a2"], world["m1"], world["lead"])
    assignments.assign(db, world["a1"], world["m2"], world["lead"])
    assert [c["code"] for c in assignments.cells_with_members(db) if len(c["members"]) == 2] == ["A1"]
    assert {a["cell_code"] for a in assignments.history_of_member(db, world["m1"])} == {"A1", "A2"}
    with pytest.raises(AssignmentError):
        assignments.assign(db, world["a1"], world["m1"], world["lead"])


def test_ending_keeps_the_assignment_in_the_history(db, world):
    assignment = assignments.assign(db, world["a1"], world["m1"], world["lead"], at="2026-01-01T00:00:00Z")
    assignments.end(db, assignment, at="2026-02-01T00:00:00Z")
    history = assignments.history_of_cell(db, world["a1"])
    assert [(h["username"], h["valid_to"]) for h in history] == [("m1", "2026-02-01T00:00:00Z")]
    with pytest.raises(AssignmentError):
        assignments.end(db, assignment)


def test_a_transfer_from_someone_who_does_not_hold_the_cell_changes_nothing(db, world):
    with pytest.raises(AssignmentError):
        assignments.transfer(db, world["a1"], world["m1"], world["m2"], world["lead"])
    assert assignments.history_of_cell(db, world["a1"]) == []


def test_a_leader_transfers_a_cell_and_the_members_lists_change_at_once(app, db, world):
    assignments.assign(db, world["a1"], world["m1"], world["lead"])
    member_one, member_two, leader = app.test_client(), app.test_client(), app.test_client()
    from tests.conftest import AuthActions

    for client, name in ((member_one, "m1"), (member_two, "m2"), (leader, "lead")):
        AuthActions(client).login(name)
    assert "翠苑 1号" in member_one.get("/households/").get_data(as_text=True)
    assert "翠苑 1号" not in member_two.get("/households/").get_data(as_text=True)

    page = leader.get(f"/assignments/cells/{world['a1']}?lang=en").get_data(as_text=True)
    assert "Transfer" in page and "m1" in page
    token = AuthActions(leader).csrf_token(f"/assignments/cells/{world['a1']}")
    response = leader.post(f"/assignments/cells/{world['a1']}/transfer",
                           data={"csrf_token": token, "from": world["m1"], "to": world["m2"]})
    assert response.status_code == 303
    assert "翠苑 1号" not in member_one.get("/households/").get_data(as_text=True)
    assert "翠苑 1号" in member_two.get("/households/").get_data(as_text=True)
    ahead = (date.today() + timedelta(days=200)).isoformat()  # days more than a year ahead are refused
    page = leader.get(f"/assignments/cells/{world['a1']}?lang=en&on={ahead}").get_data(as_text=True)
    assert f"On {ahead}:" in page and page.count("now") >= 2


def test_a_leader_assigns_and_ends_on_the_members_page(app, client, auth, db, world):
    auth.login("lead")
    token = auth.csrf_token(f"/assignments/members/{world['m2']}")
    client.post(f"/assignments/members/{world['m2']}/assign?lang=en", data={"csrf_token": token, "cell": world["a2"]})
    page = client.get(f"/assignments/members/{world['m2']}").get_data(as_text=True)
    assert "A2" in page and "Saved." in page
    open_one = assignments.current(db, world["a2"], world["m2"])
    client.post(f"/assignments/{open_one['id']}/end", data={"csrf_token": token, "back_member": world["m2"]})
    assert assignments.current(db, world["a2"], world["m2"]) is None
    # A cell of another grid cannot be given by this leader.
    response = client.post(f"/assignments/members/{world['m2']}/assign", data={"csrf_token": token, "cell": world["b1"]})
    assert response.status_code == 404


def test_assigning_twice_is_refused_with_a_message(app, client, auth, db, world):
    assignments.assign(db, world["a1"], world["m1"], world["lead"])
    auth.login("boss")
    token = auth.csrf_token(f"/assignments/cells/{world['a1']}")
    response = client.post(f"/assignments/cells/{world['a1']}/assign?lang=en",
                           data={"csrf_token": token, "member": world["m1"]}, follow_redirects=True)
    assert "This member holds this cell already." in response.get_data(as_text=True)
    assert len(assignments.history_of_cell(db, world["a1"])) == 1


def test_the_day_question_refuses_a_bad_date(app, client, auth, world):
    auth.login("lead")
    response = client.get(f"/assignments/cells/{world['a1']}?on=tomorrow&lang=en")
    assert response.status_code == 422 and "Day: give a date as YYYY-MM-DD" in response.get_data(as_text=True)


# --- A cell's unfinished requests follow the cell, not the person -----------------------------------------------

def _transfer(client, auth, world, **extra):
    token = auth.csrf_token(f"/assignments/cells/{world['a1']}")
    return client.post(f"/assignments/cells/{world['a1']}/transfer",
                       data={"csrf_token": token, "from": world["m1"], "to": world["m2"], **extra})


def test_a_transferred_cells_open_requests_pass_to_the_new_holder(auth, client, db, world):
    factories.assign(db, world["a1"], world["m1"])
    open_one = factories.make_request(db, world["household"], world["m1"], description="楼道灯坏了")
    closed = factories.make_request(db, world["household"], world["m1"], status="closed")
    auth.login("lead")
    page = _transfer(client, auth, world).headers["Location"]
    assert "1 条未办结的诉求已随微网格移交" in client.get(page).get_data(as_text=True)
    assert database.scalar(db, "SELECT responsible_user_id FROM requests WHERE id = ?", [open_one]) == world["m2"]
    assert database.scalar(db, "SELECT responsible_user_id FROM requests WHERE id = ?", [closed]) == world["m1"]
    event = database.one(db, "SELECT kind, user_id, data FROM request_events WHERE request_id = ? ORDER BY id DESC",
                         [open_one])
    assert event["kind"] == "assigned" and event["user_id"] == world["lead"] and f'"handed_over_with_cell": {world["a1"]}' in event["data"]
    auth.logout()
    auth.login("m1")  # the former holder no longer sees or acts on it
    assert client.get(f"/ledger/{open_one}").status_code == 404
    token = auth.csrf_token("/ledger/")
    assert client.post(f"/ledger/{open_one}/resolve", data={"csrf_token": token, "note": "x", "version": "2"}).status_code == 404
    auth.logout()
    auth.login("m2")
    assert "楼道灯坏了" in client.get(f"/ledger/{open_one}").get_data(as_text=True)


def test_the_leader_may_leave_the_requests_with_the_former_holder(auth, client, db, world):
    factories.assign(db, world["a1"], world["m1"])
    request_id = factories.make_request(db, world["household"], world["m1"])
    auth.login("lead")
    _transfer(client, auth, world, keep_requests="1")
    assert database.scalar(db, "SELECT responsible_user_id FROM requests WHERE id = ?", [request_id]) == world["m1"]
    auth.logout()
    auth.login("m1")  # still responsible, so still sees it (accountability names them)
    assert client.get(f"/ledger/{request_id}").status_code == 200


def test_ending_an_assignment_passes_the_requests_to_the_remaining_holder_or_the_leader(auth, client, db, world):
    first = factories.assign(db, world["a1"], world["m1"])
    second = factories.assign(db, world["a1"], world["m2"])
    mine = factories.make_request(db, world["household"], world["m1"])
    auth.login("lead")
    client.post(f"/assignments/{first}/end", data={"csrf_token": auth.csrf_token(f"/assignments/cells/{world['a1']}")})
    assert database.scalar(db, "SELECT responsible_user_id FROM requests WHERE id = ?", [mine]) == world["m2"]
    client.post(f"/assignments/{second}/end", data={"csrf_token": auth.csrf_token(f"/assignments/cells/{world['a1']}")})
    assert database.scalar(db, "SELECT responsible_user_id FROM requests WHERE id = ?", [mine]) == world["lead"]
    detail = database.scalar(db, "SELECT detail FROM audit_log WHERE action = 'assignment' ORDER BY id DESC")
    assert '"requests_handed_over": 1' in detail
