"""The leader's review: which visits and register changes are doubtful and why, each item's state from its events,
the leader's decisions and questions, the member's answers, and who may see what."""
import itertools
from datetime import timedelta

import pytest

from fieldapp import rules
from fieldapp.data import households, register, review
from fieldapp.data.db import one, rows, scalar
from tests import factories

_seq = itertools.count(1)
NOW = rules.utcnow()


def at(minutes=0, days=0):
    """A stored timestamp minutes (and days) after NOW (negative: before)."""
    return rules.iso(NOW + timedelta(minutes=minutes, days=days))


def record_visit(db, household_id, user_id, visited_at=None, received_at=None, flag="ok", outcome="met",
                 distance=20.0, accuracy=10.0):
    """Record a visit as the app does, with its position's flag; return its id."""
    from fieldapp.data import visits

    visited_at = visited_at or at(-60)
    if flag == "no_location":
        distance = accuracy = None
    _result, visit_id = visits.record(db, {
        "uuid": f"review-visit-{next(_seq)}", "household_id": household_id, "user_id": user_id,
        "visited_at": visited_at, "received_at": received_at or visited_at, "lat": None, "lon": None,
        "accuracy_m": accuracy, "distance_m": distance, "location_flag": flag, "outcome": outcome,
        "payload_sha256": None})
    return visit_id


def record_change(db, household_id, resident_id, user_id, **change):
    """Record a register change from a phone (applied, or kept as a conflict); return (result, change id)."""
    return register.record(db, {
        "uuid": f"review-change-{next(_seq)}", "household_id": household_id, "resident_id": resident_id,
        "visit_id": None, "user_id": user_id, "made_at": at(-5), "received_at": at(-5), "day": NOW.date().isoformat(),
        "reason": "居民告知", "payload_sha256": None, **change})


@pytest.fixture
def grid(db):
    """Grid A (cell of member m1, led by `lead`) with households; grid B led by `other`; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    cell = factories.make_cell(db, grid_a)
    far_cell = factories.make_cell(db, grid_b, lon=120.2)
    m1 = factories.make_user(db, "member", "m1")
    m2 = factories.make_user(db, "member", "m2")
    factories.assign(db, cell, m1)
    factories.assign(db, cell, m2)
    lead = factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "leader", "other", grid_id=grid_b)
    factories.make_user(db, "admin", "boss")
    homes = [factories.make_household(db, cell, address=f"翠苑一区 {n}室") for n in range(1, 8)]
    resident = factories.make_resident(db, homes[0], tags=("elderly_alone",), name="王秀英")
    return {"cell": cell, "far_cell": far_cell, "m1": m1, "m2": m2, "lead": lead, "homes": homes,
            "resident": resident, "grid": grid_a}


def reasons(db, scope=None):
    """The reasons of each item of the review list of scope, by (subject, id)."""
    return {(item["subject"], item["id"]): item["reasons"] for item in review.items(db, scope)}


def states(db):
    return {(item["subject"], item["id"]): item["state"] for item in review.items(db, None)}


def post(client, auth, url, **form):
    return client.post(url, data={"csrf_token": auth.csrf_token(), **form})


# --- What is doubtful, on both engines and both ways of reading the list (the district, a grid) ----------------

@pytest.mark.parametrize("whole", [True, False], ids=["district", "grid"])
def test_each_flag_is_computed(db, grid, whole):
    homes, m1, m2 = grid["homes"], grid["m1"], grid["m2"]
    plain = record_visit(db, homes[0], m1, at(-300))
    off_site = record_visit(db, homes[0], m1, at(-280), flag="off_site", distance=420.0)
    imprecise = record_visit(db, homes[1], m1, at(-260), flag="imprecise", accuracy=250.0)
    no_position = record_visit(db, homes[1], m1, at(-240), flag="no_location")
    phoned = record_visit(db, homes[3], m1, at(-230), flag="off_site", distance=3000.0, outcome="phone_call")
    late = record_visit(db, homes[2], m1, at(-25 * 60 - 1), received_at=at(-1))
    in_time = record_visit(db, homes[2], m1, at(-23 * 60), received_at=at(-1))
    # five households within ten minutes, one member: each of them is part of the burst
    burst = [record_visit(db, homes[n], m2, at(-120 + 2 * n)) for n in range(5)]
    # five households 6 minutes apart: at most three lie within 10 minutes of any of them
    spread = [record_visit(db, homes[n], m1, at(-200 + 6 * n)) for n in range(5)]
    # one household again and again within minutes: one household, not many
    same = [record_visit(db, homes[6], m2, at(-60 + n)) for n in range(6)]
    found = reasons(db, None if whole else [grid["cell"]])

    assert ("visit", plain) not in found
    assert found[("visit", off_site)] == ["off_site"]
    assert found[("visit", imprecise)] == ["imprecise"]
    assert found[("visit", no_position)] == ["no_location"]
    assert ("visit", phoned) not in found  # a phone call is made from anywhere
    assert found[("visit", late)] == ["late"]
    assert ("visit", in_time) not in found
    assert all(found[("visit", v)] == ["burst"] for v in burst)
    assert not any(("visit", v) in found for v in spread + same)


def test_bursts_are_exactly_the_visits_with_five_households_around_them(db, grid):
    """Against the rule written out in Python, on visits at random minutes (the list's sieve must lose none)."""
    import random

    draw = random.Random(7)
    made = []
    for member in (grid["m1"], grid["m2"]):
        for _ in range(40):
            when, home = NOW - timedelta(minutes=draw.randrange(30, 240)), draw.choice(grid["homes"])
            made.append((record_visit(db, home, member, rules.iso(when)), member, when, home))
    expected = {visit for visit, member, when, _ in made
                if len({h for _, m, w, h in made if m == member and abs((w - when).total_seconds()) <= 600}) >= 5}
    assert 0 < len(expected) < len(made)  # the draw holds bursts, and visits that are not
    for scope in (None, [grid["cell"]]):
        assert {visit for (_, visit), found in reasons(db, scope).items() if "burst" in found} == expected


def test_a_visit_made_before_the_window_is_judged_on_its_own(db, grid):
    """Sent 40 days late: late, and in a burst with the visits its member made at the time."""
    homes, m1 = grid["homes"], grid["m1"]
    then = NOW - timedelta(days=40)
    for n in range(4):
        record_visit(db, homes[n], m1, rules.iso(then + timedelta(minutes=n)))
    sent_late = record_visit(db, homes[4], m1, rules.iso(then + timedelta(minutes=5)), received_at=at(-10))
    assert reasons(db)[("visit", sent_late)] == ["late", "burst"]
    assert reasons(db, [grid["cell"]])[("visit", sent_late)] == ["late", "burst"]


def test_an_older_visit_stays_while_its_question_waits(db, grid):
    old = record_visit(db, grid["homes"][0], grid["m1"], at(days=-35), flag="off_site")
    assert ("visit", old) not in reasons(db)
    review.act(db, "visit", old, "ask", user_id=grid["lead"], at=at(), day=NOW.date().isoformat(),
               note="还记得吗？")
    for scope in (None, [grid["cell"]]):
        found = {(i["subject"], i["id"]): i for i in review.items(db, scope)}
        assert found[("visit", old)]["reasons"] == ["off_site"] and found[("visit", old)]["state"] == "asked"


def test_several_reasons_and_the_scope(db, grid):
    homes, m1 = grid["homes"], grid["m1"]
    both = record_visit(db, homes[0], m1, at(-26 * 60), received_at=at(-1), flag="off_site", distance=300.0)
    assert reasons(db, [grid["cell"]])[("visit", both)] == ["off_site", "late"]
    assert reasons(db, [grid["far_cell"]]) == {}
    old = record_visit(db, homes[1], m1, at(days=-31), flag="off_site")
    assert ("visit", old) not in reasons(db)  # outside the window


def test_sensitive_register_changes_and_conflicts(db, grid):
    home, resident, m1 = grid["homes"][0], grid["resident"], grid["m1"]
    _, vulnerable = record_change(db, home, resident, m1, kind="tag_added", field="tag", before=None,
                                  after="low_income")
    _, ordinary = record_change(db, home, resident, m1, kind="tag_added", field="tag", before=None,
                                after="party_member")
    _, by_leader = record_change(db, home, resident, grid["lead"], kind="tag_added", field="tag", before=None,
                                 after="disabled")
    result, conflict = record_change(db, home, resident, m1, kind="resident_corrected", field="phone",
                                     before="13800000000", after="13900001111")
    assert result == "conflict"
    _, left = record_change(db, home, resident, m1, kind="resident_left", field="status", before=None,
                            after="moved_out")
    found = reasons(db, [grid["cell"]])
    assert found[("change", vulnerable)] == ["sensitive"]
    assert found[("change", conflict)] == ["conflict"]
    assert found[("change", left)] == ["sensitive"]  # she held 独居老人 when she left
    assert ("change", ordinary) not in found and ("change", by_leader) not in found


# --- States and actions (data) ------------------------------------------------------------------------------

def test_states_follow_the_events(db, grid):
    visit = record_visit(db, grid["homes"][0], grid["m1"], flag="off_site", distance=500.0)
    key = ("visit", visit)
    act = lambda action, user, note=None: review.act(db, "visit", visit, action, user_id=user, at=at(),  # noqa: E731
                                                     day=NOW.date().isoformat(), note=note)
    assert states(db)[key] == "new"
    act("ask", grid["lead"], "是在楼下遇到的吗？")
    assert states(db)[key] == "asked"
    with pytest.raises(review.Refused, match="asked"):
        act("ask", grid["lead"], "另一个问题")
    act("answer", grid["m1"], "在小区门口遇到的")
    assert states(db)[key] == "answered"
    act("accept", grid["lead"])
    assert states(db)[key] == "decided"
    with pytest.raises(review.Refused, match="decided"):
        act("reject", grid["lead"], "不算")
    assert [e["action"] for e in rows(db, "SELECT action FROM review_events ORDER BY id")] == ["ask", "answer",
                                                                                           "accept"]
    assert review.matching(review.items(db, None)) == []  # decided: off the list
    assert [i["id"] for i in review.matching(review.items(db, None), state="decided")] == [visit]


def test_a_rejected_visit_stops_counting(db, grid):
    home = grid["homes"][0]
    earlier = record_visit(db, home, grid["m1"], at(days=-40))
    doubtful = record_visit(db, home, grid["m1"], at(-30), flag="off_site", distance=900.0)
    assert scalar(db, "SELECT last_contact_at FROM households WHERE id = ?", [home]) == at(-30)
    review.act(db, "visit", doubtful, "reject", user_id=grid["lead"], at=at(), day=NOW.date().isoformat(),
               note="定位在两公里外")
    assert scalar(db, "SELECT last_contact_at FROM households WHERE id = ?", [home]) == at(days=-40)
    assert one(db, "SELECT rejected FROM visit_standing WHERE visit_id = ?", [doubtful])["rejected"] == 1
    assert scalar(db, "SELECT count(*) FROM visits WHERE id IN (?, ?)", [earlier, doubtful]) == 2  # nothing deleted
    clock = {"today": rules.today().isoformat(), "offset": "+480 minutes", "default_cycle": 30}
    status = households.with_status(db, clock, household_id=home)[0]
    assert status["needs_visit"] and status["status"] == "due"


def test_the_household_page_marks_a_rejected_visit(client, auth, db, grid):
    home = grid["homes"][0]
    kept = record_visit(db, home, grid["m1"], at(-60))
    doubtful = record_visit(db, home, grid["m1"], at(-30), flag="off_site", distance=900.0)
    review.act(db, "visit", doubtful, "reject", user_id=grid["lead"], at=at(), day=NOW.date().isoformat(),
               note="定位在两公里外")
    auth.login("m1")
    page = client.get(f"/households/{home}?lang=en").get_data(as_text=True)
    rejected = page.split(f'id="visit-{doubtful}"')[1].split("</li>")[0]
    assert "Rejected in review: does not count" in rejected
    assert "Rejected in review" not in page.split(f'id="visit-{kept}"')[1].split("</li>")[0]


# --- Pages and access ---------------------------------------------------------------------------------------

def test_the_list_shows_what_a_leader_needs(client, auth, db, grid):
    visit = record_visit(db, grid["homes"][0], grid["m1"], flag="off_site", distance=420.0)
    record_change(db, grid["homes"][0], grid["resident"], grid["m1"], kind="resident_corrected", field="phone",
                  before="13800000000", after="13900001111")
    auth.login("lead")
    page = client.get("/review/?lang=en").get_data(as_text=True)
    assert "Showing 1–2 of 2" in page
    assert "翠苑一区 1室" in page and "Off-site" in page and "420 m from the household" in page
    assert "Conflicting change" in page and "On the server: 138****1234" in page
    assert "From the phone: 138****0000 → 139****1111" in page and "13900001111" not in page
    assert f'action="/review/visits/{visit}/accept"' in page and "Ask a question" in page
    assert "Apply the phone's value" in page and "Keep the server's value" in page
    assert ">Review<" in page  # in the navigation
    filtered = client.get("/review/?reason=conflict&lang=en").get_data(as_text=True)
    assert "Showing 1–1 of 1" in filtered and "Off-site</span>" not in filtered
    assert "审核" in client.get("/review/?lang=zh").get_data(as_text=True)


def test_members_may_not_open_the_list_and_other_grids_see_nothing(client, auth, db, grid):
    visit = record_visit(db, grid["homes"][0], grid["m1"], flag="off_site")
    auth.login("m1")
    assert client.get("/review/").status_code == 403
    assert post(client, auth, f"/review/visits/{visit}/accept").status_code == 403
    auth.logout()
    auth.login("other")
    assert client.get(f"/review/visits/{visit}").status_code == 404
    assert post(client, auth, f"/review/visits/{visit}/accept").status_code == 404
    assert "翠苑" not in client.get("/review/").get_data(as_text=True)
    assert scalar(db, "SELECT count(*) FROM review_events") == 0


def test_accept_once_and_a_clear_message_the_second_time(client, auth, db, grid):
    visit = record_visit(db, grid["homes"][0], grid["m1"], flag="no_location")
    auth.login("lead")
    response = post(client, auth, f"/review/visits/{visit}/accept", status="all")
    assert response.status_code == 302 and response.headers["Location"].endswith("/review/?status=all")
    assert post(client, auth, f"/review/visits/{visit}/accept").status_code == 302  # the same form again
    assert scalar(db, "SELECT count(*) FROM review_events") == 1
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'review_accept'") == 1
    refused = post(client, auth, f"/review/visits/{visit}/reject?lang=en", note="不算")
    assert refused.status_code == 409
    assert "This item was already decided; nothing was changed." in refused.get_data(as_text=True)
    assert scalar(db, "SELECT count(*) FROM review_events") == 1


def test_a_question_needs_its_text(client, auth, db, grid):
    visit = record_visit(db, grid["homes"][0], grid["m1"], flag="no_location")
    auth.login("lead")
    response = post(client, auth, f"/review/visits/{visit}/ask?lang=en", note="  ")
    assert response.status_code == 422
    assert "Write the question for the member." in response.get_data(as_text=True)
    assert post(client, auth, f"/review/visits/{visit}/reject?lang=en", note="").status_code == 422
    assert scalar(db, "SELECT count(*) FROM review_events") == 0


def test_a_question_goes_to_the_member_and_the_answer_comes_back(client, auth, db, grid):
    home = grid["homes"][0]
    visit = record_visit(db, home, grid["m1"], flag="off_site", distance=600.0)
    auth.login("lead")
    post(client, auth, f"/review/visits/{visit}/ask", note="当时在哪里？")
    auth.logout()

    auth.login("m2")  # the other member of the cell: not asked
    assert "当时在哪里？" not in client.get("/households/").get_data(as_text=True)
    assert post(client, auth, f"/review/visits/{visit}/answer", note="我替他答").status_code == 404
    auth.logout()
    auth.login("m1")
    assert "当时在哪里？" in client.get("/households/").get_data(as_text=True)
    assert "当时在哪里？" in client.get(f"/households/{home}").get_data(as_text=True)
    response = post(client, auth, f"/review/visits/{visit}/answer", note="在居委会见的面", next="mine")
    assert response.status_code == 302 and response.headers["Location"].endswith("/households/")
    assert "当时在哪里？" not in client.get("/households/").get_data(as_text=True)
    assert states(db)[("visit", visit)] == "answered"
    auth.logout()

    auth.login("lead")
    page = client.get("/review/?status=answered").get_data(as_text=True)
    assert "在居委会见的面" in page and f'data-id="{visit}"' in page


def test_amending_the_visit_answers_the_question_even_after_the_window(app, client, auth, db, grid):
    home = grid["homes"][0]
    visit = record_visit(db, home, grid["m1"], at(days=-3), received_at=at(days=-3), flag="off_site")
    auth.login("m1")
    assert client.get(f"/households/{home}/visits/{visit}/amend").status_code == 403  # past the window
    review.act(db, "visit", visit, "ask", user_id=grid["lead"], at=at(), day=NOW.date().isoformat(),
               note="结果是见到了吗？")
    assert client.get(f"/households/{home}/visits/{visit}/amend").status_code == 200
    response = post(client, auth, f"/households/{home}/visits/{visit}/amend", reason="其实没人在家",
                    outcome="nobody_home", notes="")
    assert response.status_code == 302
    assert one(db, "SELECT action, note FROM review_events ORDER BY id DESC LIMIT 1") == {
        "action": "answer", "note": "其实没人在家"}
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'review_answer' AND target_id = ?", [visit]) == 1
    assert client.get(f"/households/{home}/visits/{visit}/amend").status_code == 403  # answered: the window again


def test_a_conflicting_change_is_resolved_both_ways(client, auth, db, grid):
    home, resident = grid["homes"][0], grid["resident"]
    _, applied = record_change(db, home, resident, grid["m1"], kind="resident_corrected", field="phone",
                               before="13800000000", after="13900001111")
    _, kept = record_change(db, home, resident, grid["m1"], kind="resident_corrected", field="name",
                            before="王秀", after="王秀兰")
    auth.login("lead")
    page = client.get("/review/").get_data(as_text=True)
    assert f'data-id="{applied}"' in page and f'data-id="{kept}"' in page
    assert post(client, auth, f"/review/changes/{applied}/apply").status_code == 302
    assert scalar(db, "SELECT phone FROM residents WHERE id = ?", [resident]) == "13900001111"
    assert post(client, auth, f"/review/changes/{kept}/keep").status_code == 302
    assert scalar(db, "SELECT name FROM residents WHERE id = ?", [resident]) == "王秀英"
    assert post(client, auth, f"/review/changes/{kept}/apply").status_code == 409
    assert post(client, auth, f"/review/changes/{kept}/accept").status_code == 409  # a conflict is applied or kept
    assert review.matching(review.items(db, [grid["cell"]])) == []
    assert [(e["subject_id"], e["action"]) for e in rows(db, "SELECT subject_id, action FROM review_events "
                                                             "ORDER BY id")] == [(applied, "apply"), (kept, "keep")]
    assert scalar(db, "SELECT count(*) FROM register_changes") == 3  # the two kept, and the one that applied


def test_a_leader_asks_about_a_change_and_its_author_answers(client, auth, db, grid):
    home, resident = grid["homes"][0], grid["resident"]
    _, change = record_change(db, home, resident, grid["m1"], kind="tag_ended", field="tag", before="elderly_alone",
                              after=None)
    auth.login("lead")
    question = "老人是搬去子女家了吗？"
    assert post(client, auth, f"/review/changes/{change}/ask", note=question).status_code == 302
    auth.logout()
    auth.login("m1")
    page = client.get(f"/households/{home}?lang=en").get_data(as_text=True)
    assert question in page and "Tag ended" in page
    assert post(client, auth, f"/review/changes/{change}/answer", note="是的", next="household").status_code == 302
    assert states(db)[("change", change)] == "answered"


def test_an_admin_chooses_a_grid_and_a_leader_has_only_theirs(client, auth, db, grid):
    record_visit(db, grid["homes"][0], grid["m1"], flag="off_site")
    other_home = factories.make_household(db, grid["far_cell"], address="外网格 9室")
    record_visit(db, other_home, grid["m1"], flag="off_site")
    auth.login("boss")
    everything = client.get("/review/").get_data(as_text=True)
    assert "翠苑一区 1室" in everything and "外网格 9室" in everything
    one_grid = client.get(f"/review/?grid={grid['grid']}").get_data(as_text=True)
    assert "翠苑一区 1室" in one_grid and "外网格 9室" not in one_grid
    auth.logout()
    auth.login("lead")
    assert "外网格 9室" not in client.get("/review/").get_data(as_text=True)
    other_grid = one(db, "SELECT grid_id FROM cells WHERE id = ?", [grid["far_cell"]])["grid_id"]
    assert client.get(f"/review/?grid={other_grid}").status_code == 404
    assert "Unknown reason filter ignored." in client.get("/review/?reason=x&lang=en").get_data(as_text=True)


def test_a_question_sent_twice_is_asked_once(client, auth, db, grid):
    visit = record_visit(db, grid["homes"][0], grid["m1"], flag="imprecise")
    auth.login("lead")
    for _ in range(2):
        assert post(client, auth, f"/review/visits/{visit}/ask", note="定位为什么不准？").status_code == 302
    assert scalar(db, "SELECT count(*) FROM review_events WHERE action = 'ask'") == 1
    assert post(client, auth, f"/review/visits/{visit}/ask", note="另一个问题").status_code == 409
