"""Keeping the register current: each change one append-only record (who, when, field, before -> after, reason),
applied once, kept for review when the server's value moved on, refused at its field when wrong, and only within
the user's scope; the household's cycle follows its residents' tags."""
import json
import uuid

import pytest

from fieldapp import registerform, rules
from fieldapp.data import db as database
from fieldapp.data import households, register
from tests import factories

CLOCK = {"today": "2026-11-28", "offset": "+480 minutes", "timezone": "Asia/Shanghai", "default_cycle": 30}
NOW = "2026-11-28T02:00:00Z"


@pytest.fixture
def world(db):
    """Grid A (cell A1 of member m1 with a building and a household of two residents, A2 of m2), grid B; leader
    `lead` of grid A, admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, a2 = factories.make_cell(db, grid_a, lon=120.10), factories.make_cell(db, grid_a, lon=120.11)
    b1 = factories.make_cell(db, grid_b, lon=120.12)
    m1, m2 = factories.make_user(db, "member", "m1"), factories.make_user(db, "member", "m2")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, a1, m1)
    factories.assign(db, a2, m2)
    building = factories.make_building(db, a1, name="3号楼")
    home = factories.make_household(db, a1, building, unit="2", room="501", address="翠苑 3号楼 2单元 501室")
    alone = factories.make_resident(db, home, name="王秀英", phone="13812341234", birth_year=1941,
                                    tags=["elderly_alone"])
    son = factories.make_resident(db, home, name="李强", phone="13900001111")
    other = factories.make_household(db, a2, None, address="A2 1号")
    stranger = factories.make_resident(db, other, name="赵六")
    far = factories.make_household(db, b1, None, address="B1 1号")
    far_resident = factories.make_resident(db, far, name="钱七")
    return dict(a1=a1, a2=a2, b1=b1, m1=m1, m2=m2, building=building, home=home, alone=alone, son=son,
                other=other, stranger=stranger, far=far, far_resident=far_resident)


def change(world, **kw):
    """A checked change as data/register.record takes it."""
    found = {"uuid": str(uuid.uuid4()), "household_id": world["home"], "resident_id": None, "visit_id": None,
             "user_id": world["m1"], "made_at": NOW, "received_at": NOW, "day": "2026-11-28", "field": None,
             "before": None, "after": None, "reason": "走访核实", "payload_sha256": "x"}
    found.update(kw)
    return found


def count(db, table="register_changes"):
    return database.scalar(db, f"SELECT count(*) FROM {table}")


def cycle(db, household_id):
    return households.with_status(db, CLOCK, household_id=household_id)[0]["cycle_days"]


# --- The records ----------------------------------------------------------------------------------------------

def test_a_correction_is_one_record_with_before_and_after(db, world):
    result, change_id = register.record(db, change(world, kind="resident_corrected", resident_id=world["son"],
                                                   field="phone", before="13900001111", after="13900002222"))
    assert result == "created"
    row = database.one(db, "SELECT * FROM register_changes WHERE id = ?", [change_id])
    assert (row["kind"], row["field"], row["before"], row["after"], row["state"], row["user_id"]) == (
        "resident_corrected", "phone", "13900001111", "13900002222", "applied", world["m1"])
    assert database.scalar(db, "SELECT phone FROM residents WHERE id = ?", [world["son"]]) == "13900002222"


def test_a_resend_of_the_same_change_applies_nothing_twice(db, world):
    added = change(world, kind="resident_added", person={"name": "李小明", "phone": None, "birth_year": 2015,
                                                          "relation": "grandchild", "tags": ["left_behind_child"]})
    assert register.record(db, added)[0] == "created"
    assert register.record(db, added)[0] == "existing"
    assert register.record(db, {**added, "payload_sha256": "other"})[0] == "mismatch"
    assert database.scalar(db, "SELECT count(*) FROM residents WHERE name = '李小明'") == 1
    assert count(db) == 1


def test_a_change_that_meets_a_newer_value_is_kept_for_review_and_not_applied(db, world):
    with database.write(db):
        db.execute("UPDATE residents SET name = '王秀芳' WHERE id = ?", [world["alone"]])  # an import, say
    result, change_id = register.record(db, change(world, kind="resident_corrected", resident_id=world["alone"],
                                                   field="name", before="王秀英", after="王秀华"))
    assert result == "conflict"
    row = database.one(db, "SELECT state, before, after, server_value FROM register_changes WHERE id = ?",
                       [change_id])
    assert row == {"state": "conflict", "before": "王秀英", "after": "王秀华", "server_value": "王秀芳"}
    assert database.scalar(db, "SELECT name FROM residents WHERE id = ?", [world["alone"]]) == "王秀芳"
    # The leader's review applies it (register.resolve, as the review page calls it).
    register.resolve(db, change_id, user_id=world["m1"], at=NOW, day="2026-11-28", apply=True)
    assert database.scalar(db, "SELECT name FROM residents WHERE id = ?", [world["alone"]]) == "王秀华"


def test_register_changes_are_append_only(db, world):
    register.record(db, change(world, kind="household_vacant", field="occupancy", before="occupied", after="vacant"))
    with pytest.raises(database.DatabaseError):
        with database.write(db):
            db.execute("UPDATE register_changes SET reason = 'x'")
    with pytest.raises(database.DatabaseError):
        with database.write(db):
            db.execute("DELETE FROM register_changes")


def test_ending_the_elderly_alone_tag_gives_the_household_the_default_cycle(db, world):
    assert cycle(db, world["home"]) == 7
    register.record(db, change(world, kind="tag_ended", resident_id=world["alone"], field="tag",
                               before="elderly_alone"))
    assert cycle(db, world["home"]) == 30
    ended = database.one(db, "SELECT ended_on FROM resident_tags WHERE resident_id = ?", [world["alone"]])
    assert ended["ended_on"] == "2026-11-28"  # kept with its end, not deleted


def test_a_death_ends_their_tags_and_leaves_the_history(db, world):
    register.record(db, change(world, kind="resident_left", resident_id=world["alone"], field="status",
                               after="deceased", day="2026-11-20"))
    assert cycle(db, world["home"]) == 30
    assert [r["name"] for r in register.residents(db, world["home"])] == ["李强"]
    row = database.one(db, "SELECT moved_out_at, left_reason FROM residents WHERE id = ?", [world["alone"]])
    assert row == {"moved_out_at": "2026-11-20", "left_reason": "deceased"}
    [entry] = register.history(db, world["home"])
    assert entry["resident_name"] == "王秀英" and json.loads(entry["after"])["day"] == "2026-11-20"


def test_a_tag_ended_before_it_began_ends_on_its_first_day(db, world):
    with database.write(db):
        db.execute("UPDATE resident_tags SET started_on = '2026-11-28' WHERE resident_id = ?", [world["alone"]])
    register.record(db, change(world, kind="tag_ended", resident_id=world["alone"], field="tag",
                               before="elderly_alone", day="2026-11-27"))
    assert database.scalar(db, "SELECT ended_on FROM resident_tags WHERE resident_id = ?", [world["alone"]]) == \
        "2026-11-28"


# --- The checks, shared by the forms and the sync ------------------------------------------------------------

@pytest.mark.parametrize("raw, stored", [
    ("13812341234", "13812341234"), ("138 1234 1234", "13812341234"), ("+86 13812341234", "13812341234"),
    ("0571-88001234", "0571-88001234"), ("057188001234", "0571-88001234"), ("01062345678", "010-62345678"),
    ("010-6234567", "010-6234567"), ("12812341234", None), ("1381234123", None), ("88001234", None),
    ("0571-880012345", None), ("phone", None)])
def test_phone_numbers_are_chinese_mobiles_or_landlines_stored_alike(raw, stored):
    assert registerform.normal_phone(raw) == stored


@pytest.mark.parametrize("value, ok", [("1941", True), ("1900", True), ("1899", False), ("2026", True),
                                        ("2027", False), ("abc", False), ("", True)])
def test_a_birth_year_lies_between_1900_and_this_year(value, ok):
    errors = {}
    registerform.check_birth_year(value, errors, rules.today().replace(year=2026))
    assert ("birth_year" not in errors) is ok


def test_the_fingerprint_is_of_what_was_sent_not_when():
    sent = {"uuid": "u", "kind": "tag_ended", "resident_id": 3, "before": "elderly_alone", "reason": "去世"}
    assert registerform.payload_digest(sent) == registerform.payload_digest({**sent, "made_at": NOW})
    assert registerform.payload_digest(sent) != registerform.payload_digest({**sent, "reason": "搬走"})


# --- The household page's forms -------------------------------------------------------------------------------

def token(auth, path="/"):
    return auth.csrf_token(path)


def edit_form(auth, world, resident="son", **kw):
    data = {"csrf_token": token(auth), "uuid": str(uuid.uuid4()), "name": "李强", "before_name": "李强",
            "phone": "", "before_phone": "139****1111", "birth_year": "", "before_birth_year": "",
            "relation": "", "before_relation": "", "reason": "本人告知"}
    data.update(kw)
    return data


def test_the_household_page_offers_add_and_edit_and_shows_the_history_masked(auth, client, db, world):
    auth.login("m1")
    page = client.get(f"/households/{world['home']}?lang=en").get_data(as_text=True)
    assert "Add resident" in page and page.count("Edit resident") == 2
    edit = client.get(f"/households/{world['home']}/residents/{world['son']}/edit?lang=en")
    body = edit.get_data(as_text=True)
    for name in ("Name", "Phone", "Reason", "Save change", "Status", "Moved out", "Deceased"):
        assert name in body
    assert "13900001111" not in body and "139****1111" in body
    client.post(f"/households/{world['home']}/residents/{world['son']}/edit",
                data=edit_form(auth, world, phone="13900002222"))
    page = client.get(f"/households/{world['home']}?lang=en").get_data(as_text=True)
    history = page.split('id="register-history"')[1]
    assert "139****1111 → 139****2222" in history and "本人告知" in history
    assert "13900002222" not in page


def test_one_form_with_several_fields_makes_one_record_each_and_a_double_submit_nothing_more(auth, client, db,
                                                                                              world):
    auth.login("m1")
    form = edit_form(auth, world, name="李强国", birth_year="1970", relation="child", tags_add="veteran")
    url = f"/households/{world['home']}/residents/{world['son']}/edit"
    assert client.post(url, data=form).status_code == 302
    rows = database.rows(db, "SELECT uuid, kind, field, before, after FROM register_changes ORDER BY id")
    assert [(r["kind"], r["field"], r["before"], r["after"]) for r in rows] == [
        ("resident_corrected", "name", "李强", "李强国"), ("resident_corrected", "birth_year", None, "1970"),
        ("resident_corrected", "relation", None, "child"), ("tag_added", "tag", None, "veteran")]
    assert len({r["uuid"] for r in rows}) == 4
    assert client.post(url, data=form).status_code == 302  # the same form again
    assert count(db) == 4
    entries = database.rows(db, "SELECT detail FROM audit_log WHERE action = 'register_change'")
    assert len(entries) == 4 and not any("李强" in e["detail"] for e in entries)


def test_adding_a_resident_from_the_household_page(auth, client, db, world):
    auth.login("m1")
    response = client.post(f"/households/{world['home']}/residents/new", data={
        "csrf_token": token(auth), "uuid": str(uuid.uuid4()), "name": "李小明", "phone": "0571 88001234",
        "birth_year": "2015", "relation": "grandchild", "tags": "left_behind_child", "reason": "新出生登记"})
    assert response.status_code == 302
    added = database.one(db, "SELECT id, phone, birth_year FROM residents WHERE name = '李小明'")
    assert added["phone"] == "0571-88001234" and added["birth_year"] == 2015
    assert cycle(db, world["home"]) == 7
    row = database.one(db, "SELECT kind, resident_id, reason FROM register_changes")
    assert row == {"kind": "resident_added", "resident_id": added["id"], "reason": "新出生登记"}


@pytest.mark.parametrize("field, value, message", [
    ("phone", "12345", "Give a mobile number"),
    ("birth_year", "2999", "Give a year of birth from 1900"),
    ("reason", "", "Say why"),
    ("tags_add", "no_such_tag", "There is no such tag"),
    ("left_on", "2999-01-01", "The day lies in the future"),
])
def test_bad_input_is_refused_at_its_field_and_nothing_is_written(auth, client, db, world, field, value, message):
    auth.login("m1")
    form = edit_form(auth, world, name="李强国", **{field: value})
    if field == "left_on":
        form["status"] = "moved_out"
    response = client.post(f"/households/{world['home']}/residents/{world['son']}/edit?lang=en", data=form)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'id="error-{field}"' in body and message in body
    assert count(db) == 0 and count(db, "audit_log WHERE action = 'register_change'") == 0
    assert database.scalar(db, "SELECT name FROM residents WHERE id = ?", [world["son"]]) == "李强"


def test_a_room_that_already_exists_in_the_building_is_refused(auth, client, db, world):
    auth.login("m1")
    before = households.count(db)
    response = client.post("/households/add?lang=en", data={
        "csrf_token": token(auth), "uuid": str(uuid.uuid4()), "cell_id": world["a1"], "place": "building",
        "building_id": world["building"], "unit": "2", "room": "501", "reason": "上门发现"})
    assert response.status_code == 422 and "This room already exists in the building." in response.get_data(True)
    assert households.count(db) == before and count(db) == 0


def test_a_household_found_at_the_door_joins_the_members_list_once(auth, client, db, world):
    auth.login("m1")
    form = {"csrf_token": token(auth), "uuid": str(uuid.uuid4()), "cell_id": world["a1"], "place": "building",
            "building_id": world["building"], "unit": "2", "room": "502", "reason": "上门发现"}
    first = client.post("/households/add", data=form)
    again = client.post("/households/add", data=form)
    assert first.status_code == again.status_code == 302 and first.headers["Location"] == again.headers["Location"]
    added = database.one(db, "SELECT id, external_id, address, cell_id FROM households WHERE room = '502'")
    assert added["external_id"] == f"field-{form['uuid']}" and added["address"] == "3号楼 2单元 502室"
    assert f'href="/households/{added["id"]}"' in client.get("/households/").get_data(as_text=True)
    assert count(db) == 1
    village = client.post("/households/add", data={
        "csrf_token": token(auth), "uuid": str(uuid.uuid4()), "cell_id": world["a1"], "place": "house",
        "house": "龙坞村 38号", "lat": "30.2815", "lon": "120.1015", "reason": "新建住房"})
    assert village.status_code == 302
    assert database.one(db, "SELECT lat, lon FROM households WHERE address LIKE '%龙坞村 38号'") == {
        "lat": 30.2815, "lon": 120.1015}


def test_a_member_adds_no_household_to_another_cell(auth, client, db, world):
    auth.login("m1")
    response = client.post("/households/add", data={
        "csrf_token": token(auth), "uuid": str(uuid.uuid4()), "cell_id": world["a2"], "place": "house",
        "house": "9号", "lat": "30.28", "lon": "120.11", "reason": "上门发现"})
    assert response.status_code == 422 and households.count(db) == 3


def test_vacant_then_occupied_again(auth, client, db, world):
    auth.login("m1")
    url = f"/households/{world['home']}/occupancy"
    client.post(url, data={"csrf_token": token(auth), "uuid": str(uuid.uuid4()), "before": "occupied",
                           "occupancy": "vacant", "reason": "全家外出打工"})
    assert database.scalar(db, "SELECT occupancy FROM households WHERE id = ?", [world["home"]]) == "vacant"
    client.post(url, data={"csrf_token": token(auth), "uuid": str(uuid.uuid4()), "before": "vacant",
                           "occupancy": "occupied", "reason": "已回来"})
    assert database.scalar(db, "SELECT occupancy FROM households WHERE id = ?", [world["home"]]) == "occupied"
    assert [r["kind"] for r in register.history(db, world["home"])] == ["household_occupied", "household_vacant"]


def test_a_retired_household_leaves_the_list_and_keeps_its_page(auth, client, db, world):
    auth.login("m1")
    response = client.post(f"/households/{world['home']}/retire", data={
        "csrf_token": token(auth), "uuid": str(uuid.uuid4()), "retired": "demolished", "reason": "旧改拆除"})
    assert response.status_code == 302
    assert households.count(db) == 3  # kept, never deleted
    assert "翠苑 3号楼 2单元 501室" not in client.get("/households/").get_data(as_text=True)
    assert world["home"] not in households.ids_in_cells(db, [world["a1"]])
    page = client.get(f"/households/{world['home']}?lang=en").get_data(as_text=True)
    assert "Household retired" in page and "Edit resident" not in page and "Record visit" not in page
    # A visit sent to it anyway (a form kept open, a phone's queue) is refused, saying why; nothing is recorded.
    visit = client.post(f"/households/{world['home']}/visits?lang=en", data={
        "csrf_token": token(auth), "uuid": str(uuid.uuid4()), "outcome": "met", "notes": ""})
    assert visit.status_code == 422
    assert "This household was retired; visits are no longer recorded for it." in visit.get_data(as_text=True)
    assert database.scalar(db, "SELECT count(*) FROM visits WHERE household_id = ?", [world["home"]]) == 0


@pytest.mark.parametrize("user, household, resident, code", [
    ("m1", "home", "son", 302), ("m1", "home", "stranger", 404), ("m1", "other", "stranger", 404),
    ("lead", "other", "stranger", 302), ("lead", "far", "far_resident", 404), ("boss", "far", "far_resident", 302),
])
def test_scope_a_member_their_cells_a_leader_their_grid_an_admin_everywhere(auth, client, db, world, user,
                                                                            household, resident, code):
    auth.login(user)
    url = f"/households/{world[household]}/residents/{world[resident]}/edit"
    response = client.post(url, data={"csrf_token": token(auth), "uuid": str(uuid.uuid4()), "before_name": "x",
                                      "name": "改过的名字", "reason": "核实"})
    assert response.status_code == code
    assert count(db) == (1 if code == 302 else 0)


# --- Inside the visit form ----------------------------------------------------------------------------------

def visit_form(auth, world, **kw):
    data = {"csrf_token": token(auth), "uuid": str(uuid.uuid4()), "outcome": "met", "notes": ""}
    for resident, name, phone in ((world["alone"], "王秀英", "138****1234"), (world["son"], "李强", "139****1111")):
        data.update({f"r{resident}_name": name, f"r{resident}_before_name": name,
                     f"r{resident}_before_phone": phone})
    data.update(kw)
    return data


def test_a_visit_without_javascript_carries_its_changes(auth, client, db, world):
    auth.login("m1")
    page = client.get(f"/households/{world['home']}/visits/new?lang=en").get_data(as_text=True)
    assert "Add resident" in page and "Edit resident" in page
    alone = world["alone"]
    form = visit_form(auth, world, **{f"r{alone}_tags_end": "elderly_alone", f"r{alone}_reason": "儿子搬回同住",
                                      "nr_name": "李小明", "nr_birth_year": "2016", "nr_reason": "新增"})
    url = f"/households/{world['home']}/visits"
    assert client.post(url, data=form).status_code == 302
    assert client.post(url, data=form).status_code == 302  # a double tap
    visit_id = database.scalar(db, "SELECT id FROM visits")
    assert count(db, "visits") == 1
    rows = database.rows(db, "SELECT kind, visit_id FROM register_changes ORDER BY id")
    assert rows == [{"kind": "tag_ended", "visit_id": visit_id}, {"kind": "resident_added", "visit_id": visit_id}]
    assert cycle(db, world["home"]) == 30


def test_a_visit_with_a_wrong_change_is_not_saved(auth, client, db, world):
    auth.login("m1")
    form = visit_form(auth, world, **{f"r{world['son']}_phone": "123", f"r{world['son']}_reason": "换号"})
    response = client.post(f"/households/{world['home']}/visits?lang=en", data=form)
    assert response.status_code == 422
    assert f'id="error-r{world["son"]}_phone"' in response.get_data(as_text=True)
    assert count(db, "visits") == 0 and count(db) == 0


def test_a_kept_conflict_shows_in_the_history_and_the_audit_log_without_names(auth, client, db, world):
    with database.write(db):
        db.execute("UPDATE residents SET name = '李强国' WHERE id = ?", [world["son"]])  # a leader, meanwhile
    auth.login("m1")
    response = client.post(f"/households/{world['home']}/residents/{world['son']}/edit?lang=en",
                           data=edit_form(auth, world, name="李刚"), follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "change(s) kept for the leader" in body
    history = body.split('id="register-history"')[1]
    assert "李强 → 李刚" in history and "conflict: kept for review" in history and "李强国" in history
    assert database.scalar(db, "SELECT name FROM residents WHERE id = ?", [world["son"]]) == "李强国"
    detail = json.loads(database.scalar(db, "SELECT detail FROM audit_log WHERE action = 'register_change'"))
    assert detail["state"] == "conflict" and detail["field"] == "name" and "李" not in json.dumps(detail, ensure_ascii=False)


def test_the_visit_form_saves_its_changes_without_a_visit(auth, client, db, world):
    """Learnt without a visit (a call, a neighbour): "Save changes without a visit" records the changes alone,
    once however often it is sent, and says when there is nothing to save."""
    auth.login("m1")
    url = f"/households/{world['home']}/visits?lang=en"
    empty = client.post(url, data=visit_form(auth, world, save="changes", outcome=""))
    assert empty.status_code == 422
    assert "Nothing to save: change a resident first, or save the visit." in empty.get_data(as_text=True)
    son = world["son"]
    form = visit_form(auth, world, save="changes", outcome="",
                      **{f"r{son}_status": "moved_out", f"r{son}_left_on": "2026-11-20", f"r{son}_reason": "去外地工作"})
    assert client.post(url, data=form).status_code == 302
    assert client.post(url, data=form).status_code == 302  # a double tap
    assert count(db, "visits") == 0
    assert database.rows(db, "SELECT kind, visit_id FROM register_changes") == [
        {"kind": "resident_left", "visit_id": None}]
    page = client.get(f"/households/{world['home']}?lang=en").get_data(as_text=True)
    assert "Register changes saved." in page and "These changes were already saved." in page
    residents = page.split('id="residents"')[1].split("</section>")[0]
    assert "王秀英" in residents and "李强" not in residents  # he left the list, not the history
