"""The member's visit loop through the routes: my households, a household's page, recording a visit."""
import html
import json
import re
import uuid

from datetime import timedelta

import pytest

from fieldapp import rules
from fieldapp.data import db as database
from tests import factories


@pytest.fixture
def world(db):
    """Two grids; member m1 holds cell A1, m2 holds A2 (grid A), cell B1 is in grid B."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1 = factories.make_cell(db, grid_a, lon=120.100)
    a2 = factories.make_cell(db, grid_a, lon=120.110)
    b1 = factories.make_cell(db, grid_b, lon=120.120)
    m1 = factories.make_user(db, "member", "m1")
    m2 = factories.make_user(db, "member", "m2")
    leader = factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, a1, m1)
    factories.assign(db, a2, m2)
    building = factories.make_building(db, a1, lon=120.1010, lat=30.2810, name="3号楼")
    h_due = factories.make_household(db, a1, building, unit="2", room="501", address="翠苑 3号楼 2单元 501室")
    h_visited = factories.make_household(db, a1, building, unit="1", room="101", address="翠苑 3号楼 1单元 101室",
                                         last_visit_at="2099-01-01T00:00:00Z", last_contact_at="2099-01-01T00:00:00Z",
                                         last_met_at="2099-01-01T00:00:00Z")
    h_village = factories.make_household(db, a1, None, address="龙坞村 37号", lon=120.1015, lat=30.2815)
    h_a2 = factories.make_household(db, a2, None, address="A2 1号", lon=120.111, lat=30.281)
    h_b1 = factories.make_household(db, b1, None, address="B1 1号", lon=120.121, lat=30.281)
    factories.make_resident(db, h_due, name="王秀英", phone="13812341234", tags=["elderly_alone"])
    factories.make_resident(db, h_village, name="李建国", phone="13900001111")
    return dict(grid_a=grid_a, a1=a1, a2=a2, b1=b1, m1=m1, m2=m2, leader=leader, building=building,
                h_due=h_due, h_visited=h_visited, h_village=h_village, h_a2=h_a2, h_b1=h_b1)


def listing(response):
    """The household list part of the page (after the filters)."""
    return response.get_data(as_text=True).split('id="household-list"', 1)[-1]


def visit_form(token, **kw):
    data = {"csrf_token": token, "uuid": str(uuid.uuid4()), "outcome": "met", "notes": "身体还好",
            "lat": "30.2811", "lon": "120.1011", "accuracy": "12"}
    data.update(kw)
    return {k: v for k, v in data.items() if v is not None}


def test_member_sees_own_households_in_urgency_order(auth, client, world):
    auth.login("m1")
    body = listing(client.get("/households/"))
    assert "3号楼" in body and "龙坞村 37号" in body
    assert "A2 1号" not in body and "B1 1号" not in body
    # The due household (never visited) comes before the visited one.
    assert body.index("501") < body.index("101")
    page = client.get("/households/?lang=en").get_data(as_text=True)
    assert "Due this cycle: 2 of 3" in page


def test_search_by_resident_name_substring(auth, client, db, world):
    auth.login("m1")
    token = auth.csrf_token("/households/")
    body = listing(client.post("/households/", data={"q": "建国", "csrf_token": token}))
    assert "龙坞村 37号" in body and "501" not in body
    searched = database.one(db, "SELECT user_id, detail FROM audit_log WHERE action = 'search'")
    assert '"query": "建国"' in searched["detail"] and '"found": 1' in searched["detail"]


def test_a_name_in_the_url_searches_nothing(auth, client, db, world):
    """Names stay out of URLs (history, caches, logs): the list's links carry filters, never a search."""
    auth.login("m1")
    body = client.get("/households/?q=建国").get_data(as_text=True)
    assert "501" in body and 'value="建国"' not in body
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'search'") == 0
    token = auth.csrf_token("/households/")
    fragment = client.post("/households/", data={"q": "建国", "status": "due", "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert fragment.headers["HX-Push-Url"] == "/households/?status=due"
    assert "建国" not in fragment.headers["HX-Push-Url"] and "q=" not in fragment.get_data(as_text=True)


def test_htmx_request_gets_the_list_fragment_only(auth, client, world):
    auth.login("m1")
    response = client.get("/households/?status=due", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and "household-row" in body
    assert "HX-Request" in response.headers["Vary"]


def test_unknown_filter_values_are_ignored_with_a_notice(auth, client, world):
    auth.login("m1")
    response = client.get("/households/?status=bogus&tag=nope&building=999&lang=en")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Unknown status filter ignored." in body and "Unknown tag filter ignored." in body


def test_nearest_first_orders_by_distance(auth, client, world):
    auth.login("m1")
    body = listing(client.get("/households/?order=nearest&lat=30.2815&lon=120.1015"))
    assert body.index("龙坞村 37号") < body.index("3号楼")
    assert re.search(r"\b0 m\b", body)


def test_nearest_first_by_post_keeps_the_position_out_of_the_address_bar(auth, client, world):
    auth.login("m1")
    token = auth.csrf_token("/households/")
    data = {"order": "nearest", "lat": "30.2815", "lon": "120.1015", "status": "", "csrf_token": token}
    assert listing(client.post("/households/", data=data)) == listing(
        client.get("/households/?order=nearest&lat=30.2815&lon=120.1015"))
    fragment = client.post("/households/", data=data, headers={"HX-Request": "true"})
    assert "lat=" not in fragment.headers["HX-Push-Url"] and "lon=" not in fragment.headers["HX-Push-Url"]


def test_nearest_without_location_keeps_urgency_order(auth, client, world):
    auth.login("m1")
    body = client.get("/households/?order=nearest&lang=en").get_data(as_text=True)
    assert "stays in order of urgency" in body


@pytest.mark.parametrize("user, household, code", [
    ("m1", "h_due", 200), ("m1", "h_a2", 404), ("m1", "h_b1", 404),
    ("m2", "h_a2", 200), ("m2", "h_due", 404),
    ("lead", "h_due", 200), ("lead", "h_a2", 200), ("lead", "h_b1", 404),
    ("boss", "h_b1", 200),
])
def test_household_page_scope(auth, client, world, user, household, code):
    auth.login(user)
    assert client.get(f"/households/{world[household]}").status_code == code
    assert client.get(f"/households/{world[household]}/visits/new").status_code == code


def test_unknown_household_is_404(auth, client, world):
    auth.login("boss")
    assert client.get("/households/999999").status_code == 404


def test_household_page_masks_phones_and_reveal_is_audited(auth, client, db, world):
    auth.login("m1")
    body = client.get(f"/households/{world['h_due']}").get_data(as_text=True)
    assert "138****1234" in body and "13812341234" not in body
    resident_id = database.scalar(db, "SELECT id FROM residents WHERE name = '王秀英'")
    token = auth.csrf_token()
    response = client.post(f"/households/{world['h_due']}/residents/{resident_id}/phone", data={"csrf_token": token})
    assert "13812341234" in response.get_data(as_text=True)
    entry = database.one(db, "SELECT action, target_id, user_id FROM audit_log WHERE action = 'reveal_phone'")
    assert entry == {"action": "reveal_phone", "target_id": resident_id, "user_id": world["m1"]}
    # Another household's resident through this household's URL: 404.
    other = factories.make_resident(db, world["h_a2"], phone="13700000000")
    assert client.post(f"/households/{world['h_due']}/residents/{other}/phone",
                       data={"csrf_token": token}).status_code == 404


def test_record_visit_shows_on_timeline_and_changes_status(auth, client, db, world):
    auth.login("m1")
    token = auth.csrf_token()
    form = visit_form(token)
    response = client.post(f"/households/{world['h_due']}/visits", data=form)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "身体还好" in page and "位置正常" in page
    visit = database.one(db, "SELECT * FROM visits WHERE uuid = ?", [form["uuid"]])
    assert visit["user_id"] == world["m1"] and visit["location_flag"] == "ok"
    assert 0 < visit["distance_m"] < 30
    household = database.one(db, "SELECT last_visit_at, last_visit_user_id FROM households WHERE id = ?", [world["h_due"]])
    assert household["last_visit_user_id"] == world["m1"]
    assert "本周期已走访" in page


def test_the_outcomes_are_grouped_as_contact_then_attempt_then_nobody_there(auth, client, world):
    auth.login("m1")
    form = client.get(f"/households/{world['h_due']}/visits/new?lang=en").get_data(as_text=True)
    outcomes = form.split('class="outcomes"', 1)[1].split('<label for="notes">', 1)[0]
    groups = dict(re.findall(r'data-outcome-group="(\w+)">(.*?)</(?:fieldset|div)>', outcomes, re.S))
    found = {name: re.findall(r'name="outcome" value="(\w+)"', part) for name, part in groups.items()}
    assert found == {"contact": list(rules.CONTACT_OUTCOMES), "attempt": list(rules.ATTEMPT_OUTCOMES),
                     "empty": ["moved_out", "vacant"]}
    assert "<legend>Contact</legend>" in groups["contact"] and "<legend>Attempt</legend>" in groups["attempt"]
    assert [label.strip() for label in re.findall(r'required> ([^<]+)</label>', outcomes)] == [
        "Met resident(s)", "Met elsewhere", "Phone call", "Nobody home", "Declined", "No answer", "Moved out", "Vacant"]


def test_after_attempts_the_household_stays_due_and_says_when_it_was_tried(auth, client, db, world):
    auth.login("m1")
    household = world["h_due"]  # weekly: a resident lives alone
    yesterday = rules.utcnow() - timedelta(days=1)
    client.post(f"/households/{household}/visits",
                data=visit_form(auth.csrf_token(), outcome="nobody_home", visited_at=rules.iso(yesterday)))
    page = client.get(f"/households/{household}?lang=en").get_data(as_text=True)
    summary = page.split('class="card household-summary"', 1)[1].split("</section>", 1)[0]
    assert "Due for a visit" in summary and "Visited this cycle" not in summary
    assert f"Attempted</strong> {rules.local_date(yesterday)}" in summary
    assert "No resident reached yet; cycle 7 days." in summary and "Unreachable" not in summary
    client.post(f"/households/{household}/visits", data=visit_form(auth.csrf_token(), outcome="no_answer"))
    days = [rules.local_date(yesterday).isoformat()[5:], rules.today().isoformat()[5:]]
    listed = listing(client.get("/households/?lang=en"))
    row = listed.split(f'data-household-id="{household}"', 1)[1].split("</li>", 1)[0]
    assert f"tried {days[0]}, {days[1]}" in row and "Due for a visit" in row
    other = listed.split(f'data-household-id="{world["h_village"]}"', 1)[1]
    assert "tried" not in other.split("</li>", 1)[0]
    client.post(f"/households/{household}/visits", data=visit_form(auth.csrf_token(), outcome="declined"))
    summary = client.get(f"/households/{household}?lang=en").get_data(as_text=True).split("</section>", 1)[0]
    assert "Unreachable: 3 attempts this cycle" in summary and f"tried {days[0]}, {days[1]}, {days[1]}" in summary
    client.post(f"/households/{household}/visits", data=visit_form(auth.csrf_token(), outcome="phone_call"))
    summary = client.get(f"/households/{household}?lang=en").get_data(as_text=True).split("</section>", 1)[0]
    assert "Visited this cycle" in summary and "Attempted" not in summary
    assert "Last contact 0 days ago, cycle 7 days." in summary


def test_same_visit_twice_is_recorded_once(auth, client, db, world):
    auth.login("m1")
    form = visit_form(auth.csrf_token())
    first = client.post(f"/households/{world['h_due']}/visits", data=form)
    second = client.post(f"/households/{world['h_due']}/visits", data=form, follow_redirects=True)
    assert first.status_code == 302
    assert "已保存过" in second.get_data(as_text=True)
    assert database.scalar(db, "SELECT count(*) FROM visits WHERE uuid = ?", [form["uuid"]]) == 1


def test_same_uuid_other_content_is_a_conflict_and_changes_nothing(auth, client, db, world):
    auth.login("m1")
    form = visit_form(auth.csrf_token())
    client.post(f"/households/{world['h_due']}/visits", data=form)
    changed = dict(form, notes="另一次")
    response = client.post(f"/households/{world['h_due']}/visits", data=changed, follow_redirects=True)
    assert "已用不同内容保存过" in response.get_data(as_text=True)
    assert database.scalar(db, "SELECT notes FROM visits WHERE uuid = ?", [form["uuid"]]) == "身体还好"


def test_visit_far_away_is_flagged_not_refused(auth, client, db, world):
    auth.login("m1")
    form = visit_form(auth.csrf_token(), lat="30.2900", lon="120.1011")
    client.post(f"/households/{world['h_due']}/visits", data=form)
    assert database.scalar(db, "SELECT location_flag FROM visits WHERE uuid = ?", [form["uuid"]]) == "off_site"
    form = visit_form(auth.csrf_token(), accuracy="250")
    client.post(f"/households/{world['h_due']}/visits", data=form)
    assert database.scalar(db, "SELECT location_flag FROM visits WHERE uuid = ?", [form["uuid"]]) == "imprecise"


def test_visit_without_location_is_saved_with_reason(auth, client, db, world):
    auth.login("m1")
    form = visit_form(auth.csrf_token(), lat=None, lon=None, accuracy=None, no_location_reason="denied")
    assert client.post(f"/households/{world['h_due']}/visits", data=form).status_code == 302
    row = database.one(db, "SELECT location_flag, no_location_reason, lat FROM visits WHERE uuid = ?", [form["uuid"]])
    assert row == {"location_flag": "no_location", "no_location_reason": "denied", "lat": None}


def test_visit_with_new_request_and_follow_up(auth, client, db, world):
    auth.login("m1")
    token = auth.csrf_token()
    first = visit_form(token, new_uuid="", new_category="medical", new_description="需要上门体检")
    client.post(f"/households/{world['h_due']}/visits", data=first)
    request_row = database.one(db, "SELECT id, status, due_date, responsible_user_id FROM requests")
    assert request_row["status"] == "open" and request_row["responsible_user_id"] == world["m1"]
    second = visit_form(token, **{f"followup_{request_row['id']}": "resolve",
                                  f"followup_note_{request_row['id']}": "已联系社区卫生服务中心上门"})
    client.post(f"/households/{world['h_due']}/visits", data=second)
    assert database.one(db, "SELECT status, resolution FROM requests") == {
        "status": "resolved", "resolution": "已联系社区卫生服务中心上门"}
    kinds = [r["kind"] for r in database.rows(db, "SELECT kind FROM request_events ORDER BY id")]
    assert kinds == ["created", "resolved"]


@pytest.mark.parametrize("change, field_text", [
    ({"outcome": None}, "请选择"),
    ({"notes": "长" * 2001}, "2000"),
    ({"lat": "95"}, "位置超出范围"),
    ({"visited_at": "2099-01-01T00:00:00Z"}, "将来"),
    ({"new_uuid": "", "new_category": "", "new_description": "没有类别"}, "请选择诉求类别"),
    ({"new_uuid": "", "new_category": "medical", "new_description": ""}, "请描述"),
])
def test_bad_visit_input_is_refused_at_the_field_and_kept(auth, client, db, world, change, field_text):
    auth.login("m1")
    form = visit_form(auth.csrf_token(), **{"notes": "我写的备注", **change})
    response = client.post(f"/households/{world['h_due']}/visits", data=form)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_text in body
    assert database.scalar(db, "SELECT count(*) FROM visits") == 0
    if "notes" not in change:
        assert "我写的备注" in body
    if change.get("new_description"):
        assert change["new_description"] in body


def test_visit_for_out_of_scope_household_is_404_and_not_saved(auth, client, db, world):
    auth.login("m1")
    response = client.post(f"/households/{world['h_a2']}/visits", data=visit_form(auth.csrf_token()))
    assert response.status_code == 404
    assert database.scalar(db, "SELECT count(*) FROM visits") == 0


def test_reassigned_member_loses_access_at_once_and_keeps_authorship(auth, client, db, world):
    auth.login("m1")
    form = visit_form(auth.csrf_token())
    client.post(f"/households/{world['h_due']}/visits", data=form)
    with database.write(db):
        db.execute("UPDATE assignments SET valid_from = '1999-01-01T00:00:00Z', valid_to = '2000-01-01T00:00:00Z' "
                   "WHERE user_id = ?", [world["m1"]])
    assert client.get(f"/households/{world['h_due']}").status_code == 404
    assert "翠苑" not in client.get("/households/").get_data(as_text=True)
    assert database.scalar(db, "SELECT user_id FROM visits WHERE uuid = ?", [form["uuid"]]) == world["m1"]


def test_amend_own_visit_keeps_the_original(auth, client, db, world):
    auth.login("m1")
    form = visit_form(auth.csrf_token())
    client.post(f"/households/{world['h_due']}/visits", data=form)
    visit_id = database.scalar(db, "SELECT id FROM visits")
    url = f"/households/{world['h_due']}/visits/{visit_id}/amend"
    assert client.post(url, data={"csrf_token": auth.csrf_token(), "reason": ""}).status_code == 422
    response = client.post(url, data={"csrf_token": auth.csrf_token(), "reason": "记错了", "outcome": "nobody_home",
                                      "notes": "身体还好"}, follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "记错了" in body and "无人在家" in body
    assert database.scalar(db, "SELECT outcome FROM visits WHERE id = ?", [visit_id]) == "met"
    # Somebody else may not amend it.
    auth.logout()
    auth.login("lead")
    assert client.get(url).status_code == 403


def test_a_resolved_request_is_closed_or_reopened_at_the_door(auth, client, db, world):
    from fieldapp.data import ledger

    request_id = factories.make_request(db, world["h_visited"], world["m1"], status="resolved", resolution="已修好")
    auth.login("m1")
    listing_page = client.get("/households/?lang=en").get_data(as_text=True)
    assert "Return visit due" in listing_page
    form = client.get(f"/households/{world['h_visited']}/visits/new?lang=en").get_data(as_text=True)
    assert "Return visit: satisfied (close)" in form
    response = client.post(f"/households/{world['h_visited']}/visits",
                           data=visit_form(auth.csrf_token(), **{f"followup_{request_id}": "reopen",
                                                                 f"followup_note_{request_id}": "还在漏水"}))
    assert response.status_code == 302
    [event] = [e for e in ledger.events(db, request_id) if e["kind"] == "return_visit"]
    assert (event["to_status"], event["data"], event["note"]) == ("open", {"channel": "door", "satisfied": False}, "还在漏水")
    assert event["visit_id"] is not None
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [request_id]) == "open"


def test_tag_filter_keeps_the_vulnerable_group_out_of_the_url(app, auth, client, world):
    from fieldapp.templating import tag_token

    auth.login("m1")
    page = client.get("/households/").get_data(as_text=True)
    assert "elderly_alone" not in page.split('name="tag"', 1)[1].split("</select>", 1)[0]
    with app.test_request_context():
        token = tag_token("elderly_alone")
    body = listing(client.get(f"/households/?tag={token}"))
    assert "501" in body and "龙坞村 37号" not in body
    assert "elderly_alone" not in listing(client.get(f"/households/?tag={token}&order=nearest&lat=30.28&lon=120.1"))


@pytest.mark.parametrize("lang, locating, denied", [
    ("zh", "正在获取位置…", "无法定位：未允许获取位置。可不带位置保存（标记为“无定位”）。"),
    ("en", "Getting your location…", 'No location: permission was refused. The visit can be saved without it '
                                      '(marked "no location").'),
])
def test_the_location_texts_of_the_visit_form_and_the_list_come_in_the_pages_language(auth, client, world, lang,
                                                                                      locating, denied):
    auth.login("m1")
    form = client.get(f"/households/{world['h_due']}/visits/new?lang={lang}").get_data(as_text=True)
    texts = json.loads(html.unescape(re.search(r'id="location-status"[^>]*data-texts=\'([^\']*)\'', form).group(1)))
    assert (texts["locating"], texts["denied"]) == (locating, denied)
    assert texts["accuracy"].replace("{m}", "12") == {"zh": "已定位 ±12 米", "en": "Location ±12 m"}[lang]
    listing_page = client.get(f"/households/?lang={lang}").get_data(as_text=True)
    assert f'id="nearest-first" data-locating="{locating}"' in listing_page


def test_a_household_keeps_its_latest_contact_and_attempt_apart(db):
    """Contact (met at home or elsewhere, a phone call) and attempts move their own columns, only forward; an
    amended outcome and a rejected visit are worked out again from the visits as they stand."""
    from fieldapp.data import visits

    cell_id = factories.make_cell(db)
    household_id = factories.make_household(db, cell_id)
    user_id = factories.make_user(db)
    latest = lambda: database.one(db, "SELECT last_visit_at, last_contact_at, last_met_at, last_attempt_at "
                                      "FROM households WHERE id = ?", [household_id])
    met = factories.make_visit(db, household_id, user_id, "2026-11-01T02:00:00Z", "met")
    factories.make_visit(db, household_id, user_id, "2026-11-03T02:00:00Z", "nobody_home")
    call = factories.make_visit(db, household_id, user_id, "2026-11-05T02:00:00Z", "phone_call")
    factories.make_visit(db, household_id, user_id, "2026-10-01T02:00:00Z", "no_answer")  # sent late
    assert latest() == {"last_visit_at": "2026-11-05T02:00:00Z", "last_contact_at": "2026-11-05T02:00:00Z",
                        "last_met_at": "2026-11-01T02:00:00Z", "last_attempt_at": "2026-11-03T02:00:00Z"}
    visits.amend(db, call, user_id, "2026-11-05T03:00:00Z", "没接通", outcome="no_answer")
    assert latest()["last_contact_at"] == "2026-11-01T02:00:00Z"
    assert latest()["last_attempt_at"] == "2026-11-05T02:00:00Z"
    with database.write(db):
        visits.set_standing(db, met, rejected=True)
    assert latest() == {"last_visit_at": "2026-11-05T02:00:00Z", "last_contact_at": None, "last_met_at": None,
                        "last_attempt_at": "2026-11-05T02:00:00Z"}
