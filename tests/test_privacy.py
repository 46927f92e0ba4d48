"""Privacy: views of residents logged, the admin's audit search, a resident's export, retention and anonymisation."""
import csv
import io
import json
from datetime import timedelta

import pytest

from fieldapp import rules
from fieldapp.data import db as database
from fieldapp.data import visits
from tests import factories
from tests.conftest import AuthActions


@pytest.fixture
def world(db):
    """Member m1's household with 王秀英 (elderly, living alone), a visit and a request; admin boss."""
    cell = factories.make_cell(db)
    member = factories.make_user(db, "member", "m1")
    factories.make_user(db, "admin", "boss")
    factories.assign(db, cell, member)
    household = factories.make_household(db, cell, address="幸福小区 3号楼 1单元 502室")
    resident = factories.make_resident(db, household, name="王秀英", phone="13812345678", tags=["elderly_alone"])
    other = factories.make_resident(db, household, name="李建国", phone="13900001111")
    now = rules.iso(rules.utcnow())
    visits.record(db, {"uuid": "privacy-visit", "household_id": household, "user_id": member, "visited_at": now,
                       "received_at": now, "location_flag": "no_location", "outcome": "met",
                       "residents_met": json.dumps([resident])})
    factories.make_request(db, household, member, description="=HYPERLINK(\"x\") 需要助浴")
    return {"cell": cell, "member": member, "household": household, "resident": resident, "other": other}


def days_ago(days):
    return rules.iso(rules.utcnow() - timedelta(days=days))


# --- Views of residents are logged -----------------------------------------------------------------------------

def views(db):
    """How many household-page views the audit log holds."""
    return database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'view_household'")


@pytest.fixture
def clock(monkeypatch):
    """Move the server's clock in seconds: clock.advance(seconds)."""
    from fieldapp import security

    class Clock:
        now = security.now_seconds()

        def advance(self, seconds):
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(security, "now_seconds", lambda: fake.now)
    return fake


@pytest.mark.parametrize("headers", [
    {}, {"Sec-Fetch-Dest": "empty"}, {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"},
    {"HX-Request": "true"}, {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"},
])
def test_opening_a_household_page_is_logged_however_the_client_asks(auth, client, db, world, headers):
    auth.login("m1")
    client.get(f"/households/{world['household']}", headers=headers)
    client.get(f"/households/{world['household']}", headers=headers)
    logged = database.rows(db, "SELECT action, target_type, target_id, user_id FROM audit_log "
                               "WHERE action = 'view_household'")
    assert logged == [{"action": "view_household", "target_type": "household", "target_id": world["household"],
                       "user_id": world["member"]}] * 2


def test_the_offline_copy_is_logged_once_and_its_pages_not_again(auth, client, db, world):
    auth.login("m1")
    token = client.get("/api/offline-manifest").get_json()["token"]
    for _ in range(2):
        page = client.get(f"/households/{world['household']}", headers={"X-Offline-Copy": token})
        assert page.status_code == 200 and "王秀英" in page.get_data(as_text=True)
    assert views(db) == 0
    copies = database.rows(db, "SELECT user_id, detail FROM audit_log WHERE action = 'offline_copy'")
    assert [(c["user_id"], json.loads(c["detail"])) for c in copies] == [
        (world["member"], {"pages": 3, "households": [world["household"]]})]
    client.get(f"/households/{world['household']}")  # the member opens it: logged as always
    assert views(db) == 1


def test_a_forged_copy_token_is_no_copy(app, auth, client, db, world):
    from itsdangerous import URLSafeSerializer

    auth.login("m1")
    manifest = client.get("/api/offline-manifest").get_json()
    claims = URLSafeSerializer(app.secret_key, salt="offline-copy").loads(manifest["token"])
    forged = [URLSafeSerializer("another secret", salt="offline-copy").dumps(claims),
              URLSafeSerializer(app.secret_key, salt="another purpose").dumps(claims),
              manifest["token"][:-2] + ("AA" if not manifest["token"].endswith("AA") else "BB"),
              manifest["session"], "x" * 4000]
    for token in forged:
        assert client.get(f"/households/{world['household']}", headers={"X-Offline-Copy": token}).status_code == 200
    assert views(db) == len(forged)


def test_an_expired_copy_token_is_no_copy(auth, client, clock, db, world):
    auth.login("m1")
    token = client.get("/api/offline-manifest").get_json()["token"]
    clock.advance(14 * 60)
    client.get(f"/households/{world['household']}", headers={"X-Offline-Copy": token})
    assert views(db) == 0
    clock.advance(2 * 60)  # 16 minutes after the manifest
    client.get(f"/households/{world['household']}", headers={"X-Offline-Copy": token})
    assert views(db) == 1


def test_another_users_copy_token_is_no_copy(app, auth, client, db, world):
    colleague = factories.make_user(db, "member", "m2")
    factories.assign(db, world["cell"], colleague)  # their copy names the same household
    other = app.test_client()
    AuthActions(other).login("m2")
    token = other.get("/api/offline-manifest").get_json()["token"]
    assert other.get(f"/households/{world['household']}", headers={"X-Offline-Copy": token}).status_code == 200
    assert views(db) == 0  # in m2's own hands the token works
    auth.login("m1")
    client.get(f"/households/{world['household']}", headers={"X-Offline-Copy": token})
    assert database.rows(db, "SELECT user_id FROM audit_log WHERE action = 'view_household'") == [
        {"user_id": world["member"]}]


def test_a_copy_token_covers_only_the_households_of_its_copy(auth, client, db, world):
    auth.login("m1")
    token = client.get("/api/offline-manifest").get_json()["token"]
    later_cell = factories.make_cell(db, lon=120.2)
    factories.assign(db, later_cell, world["member"])  # assigned after the copy began
    later = factories.make_household(db, later_cell)
    assert client.get(f"/households/{later}", headers={"X-Offline-Copy": token}).status_code == 200
    assert database.rows(db, "SELECT target_id FROM audit_log WHERE action = 'view_household'") == [
        {"target_id": later}]


def test_a_copy_token_of_an_ended_session_is_no_copy(auth, client, db, world):
    auth.login("m1")
    token = client.get("/api/offline-manifest").get_json()["token"]
    auth.logout()
    auth.login("m1")  # the same member, a new session
    client.get(f"/households/{world['household']}", headers={"X-Offline-Copy": token})
    assert views(db) == 1


# --- The audit search --------------------------------------------------------------------------------------------

def test_the_admin_finds_who_revealed_a_phone(auth, client, world):
    auth.login("m1")
    client.post(f"/households/{world['household']}/residents/{world['resident']}/phone",
                data={"csrf_token": auth.csrf_token(f"/households/{world['household']}")})
    auth.logout()
    auth.login("boss")
    page = client.get("/privacy/audit?user=m1&action=reveal_phone").get_data(as_text=True)
    assert "查看完整电话号码" in page and f"居民 #{world['resident']}" in page and "127.0.0.1" in page
    assert "view_household" not in page.split('id="audit-rows"')[1]
    fragment = client.get("/privacy/audit?action=login", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="audit-rows"') and "<html" not in fragment


def test_the_audit_search_pages_and_names_ignored_filters(app, auth, client, db, world):
    from fieldapp.data import audit

    for n in range(55):
        audit.log(db, user_id=world["member"], action="view_household", target_type="household", target_id=n)
    auth.login("boss")
    first = client.get("/privacy/audit?action=view_household").get_data(as_text=True)
    assert first.count("<tr>") == 51  # 50 entries and the header
    older = first.split('class="button" href="')[-1].split('"')[0].replace("&amp;", "&")
    assert "before=" in older and "action=view_household" in older
    assert client.get(older).get_data(as_text=True).count("<tr>") == 6
    notices = client.get("/privacy/audit?user=nobody&from=yesterday&target_id=x").get_data(as_text=True)
    assert "没有名为 nobody 的账号" in notices and "起：请按 YYYY-MM-DD 格式填写日期" in notices and "记录编号必须是数字" in notices


def test_the_audit_search_filters_by_day(auth, client, db, world):
    database.insert(db, "audit_log", {"at": "2026-01-10T03:00:00Z", "user_id": None, "action": "purge", "detail": "{}"})
    auth.login("boss")
    assert "purge" in client.get("/privacy/audit?from=2026-01-10&to=2026-01-10").get_data(as_text=True)
    assert "purge" not in client.get("/privacy/audit?from=2026-01-11").get_data(as_text=True).split('id="audit-rows"')[1]


# --- A resident's export -------------------------------------------------------------------------------------

def test_a_residents_export_holds_what_is_kept_about_them_and_is_logged(auth, client, db, world):
    auth.login("boss")
    found = client.post("/privacy/residents", data={"q": "王秀", "csrf_token": auth.csrf_token("/privacy/residents")}
                        ).get_data(as_text=True)
    assert "王秀英" in found and "138****5678" in found and "13812345678" not in found
    response = client.get(f"/privacy/residents/{world['resident']}/export.json")
    assert response.headers["Content-Disposition"] == (f'attachment; filename="resident-{world["resident"]}.json"; '
                                                       f"filename*=UTF-8''resident-{world['resident']}.json")
    assert response.headers["Cache-Control"] == "no-store"
    record = response.get_json()
    assert record["resident"]["name"] == "王秀英" and record["resident"]["phone"] == "13812345678"
    assert record["resident"]["tags"] == ["elderly_alone"]
    assert record["household"]["address"] == "幸福小区 3号楼 1单元 502室"
    assert [v["met_this_resident"] for v in record["visits"]] == [True]
    assert record["requests"][0]["category"] == "medical"
    assert "李建国" not in json.dumps(record, ensure_ascii=False)  # the other resident is not theirs
    logged = database.one(db, "SELECT user_id, target_type, target_id FROM audit_log WHERE action = 'export_resident'")
    assert logged["target_type"] == "resident" and logged["target_id"] == world["resident"]


def test_the_csv_export_opens_in_excel_and_runs_no_formula(auth, client, world):
    auth.login("boss")
    body = client.get(f"/privacy/residents/{world['resident']}/export.csv").get_data(as_text=True)
    assert body.startswith("\ufeffsection,item,field,value")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert ["resident", "1", "name", "王秀英"] in rows
    description = next(r[3] for r in rows if r[0] == "requests" and r[2] == "description")
    assert description.startswith("'=HYPERLINK")


def test_an_unknown_resident_or_format_is_404(auth, client, world):
    auth.login("boss")
    assert client.get("/privacy/residents/999/export.json").status_code == 404
    assert client.get(f"/privacy/residents/{world['resident']}/export.xml").status_code == 404


# --- Retention and anonymisation -----------------------------------------------------------------------------

@pytest.fixture
def moved(db, world):
    """Households that moved out long ago, recently, and one that moved out but was found lived in again."""
    def household_with_visits(*visits):
        household = factories.make_household(db, world["cell"])
        resident = factories.make_resident(db, household, name="赵", phone="13700000000", tags=["low_income"])
        for days, outcome in visits:
            factories.make_visit(db, household, world["member"], visited_at=days_ago(days), outcome=outcome)
        return resident

    long_ago = household_with_visits((500, "met"), (400, "moved_out"), (300, "moved_out"))
    recently = household_with_visits((400, "met"), (100, "moved_out"))
    back = household_with_visits((400, "moved_out"), (50, "met"), (10, "moved_out"))
    alone = factories.make_resident(db, world["household"], name="孙", moved_out_at=days_ago(370))
    return {"long_ago": long_ago, "recently": recently, "back": back, "alone": alone}


def test_purge_anonymises_only_residents_past_the_retention_period(auth, client, db, world, moved):
    auth.login("boss")
    assert "现在应匿名化：2 位居民" in client.get("/privacy/").get_data(as_text=True)
    response = client.post("/privacy/purge", data={"csrf_token": auth.csrf_token("/privacy/")}, follow_redirects=True)
    assert "已匿名化 2 位居民" in response.get_data(as_text=True)
    residents = {r["id"]: r for r in database.rows(db, "SELECT * FROM residents")}
    for key in ("long_ago", "alone"):
        gone = residents[moved[key]]
        assert gone["name"] == "—" and gone["phone"] is None and gone["anonymised_at"]
    assert database.scalar(db, "SELECT count(*) FROM resident_tags WHERE resident_id = ?", [moved["long_ago"]]) == 0
    for key in ("recently", "back"):
        assert residents[moved[key]]["name"] == "赵" and residents[moved[key]]["anonymised_at"] is None
    assert residents[world["resident"]]["name"] == "王秀英"
    detail = json.loads(database.scalar(db, "SELECT detail FROM audit_log WHERE action = 'purge'"))
    assert detail == {"residents": 2, "photos": 0, "retention_days": 365, "via": "web"}


def test_a_shorter_retention_period_anonymises_more(auth, client, db, world, moved):
    auth.login("boss")
    token = auth.csrf_token("/privacy/")
    refused = client.post("/privacy/retention", data={"retention_days": "5", "csrf_token": token})
    assert refused.status_code == 422 and "30 到 3650" in refused.get_data(as_text=True)
    client.post("/privacy/retention", data={"retention_days": "60", "csrf_token": token})
    assert "现在应匿名化：3 位居民" in client.get("/privacy/").get_data(as_text=True)
    change = json.loads(database.scalar(db, "SELECT detail FROM audit_log WHERE action = 'settings'"))
    assert change == {"retention_days": [365, 60]}


def test_the_purge_command(runner, db, world, moved):
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0 and "2 resident(s)" in dry.output and "dry run" in dry.output
    assert database.scalar(db, "SELECT count(*) FROM residents WHERE anonymised_at IS NOT NULL") == 0
    done = runner.invoke(args=["purge"])
    assert done.exit_code == 0 and "2 resident(s)" in done.output
    assert database.scalar(db, "SELECT count(*) FROM residents WHERE anonymised_at IS NOT NULL") == 2
    assert runner.invoke(args=["purge"]).output.startswith("0 resident(s)")


# --- Vulnerable-group tags ------------------------------------------------------------------------------------

def test_the_map_data_carries_no_vulnerable_group_tag(auth, client, db, world):
    auth.login("m1")
    body = client.get("/map/data.geojson", headers={"Accept-Encoding": "identity"}).get_data(as_text=True)
    assert world["household"] and "statuses" in body
    sensitive = [r["code"] for r in database.rows(db, "SELECT code FROM tags WHERE sensitive = 1")]
    sensitive += [r["label"] for r in database.rows(db, "SELECT label FROM tags WHERE sensitive = 1")]
    assert not [tag for tag in sensitive if tag in body]


def test_the_visit_form_lists_residents_and_is_logged(auth, client, db, world):
    auth.login("m1")
    client.get(f"/households/{world['household']}/visits/new")
    logged = database.one(db, "SELECT action, target_id FROM audit_log WHERE action = 'view_household'")
    assert logged == {"action": "view_household", "target_id": world["household"]}


def test_an_admins_resident_search_keeps_the_name_out_of_the_url_and_is_logged(auth, client, db, world):
    auth.login("boss")
    assert "王秀英" not in client.get("/privacy/residents?q=王秀").get_data(as_text=True)
    client.post("/privacy/residents", data={"q": "王秀", "csrf_token": auth.csrf_token("/privacy/residents")})
    detail = database.scalar(db, "SELECT detail FROM audit_log WHERE action = 'search'")
    assert '"page": "privacy_residents"' in detail and '"query": "王秀"' in detail


def test_a_residents_export_names_the_offline_copies_that_took_their_household(auth, client, db, world):
    auth.login("m1")
    client.get("/api/offline-manifest")
    auth.logout()
    auth.login("boss")
    record = client.get(f"/privacy/residents/{world['resident']}/export.json").get_json()
    assert [a["action"] for a in record["accesses"]].count("offline_copy") == 1
    elsewhere = factories.make_resident(db, factories.make_household(db, factories.make_cell(db, lon=120.2)))
    other = client.get(f"/privacy/residents/{elsewhere}/export.json").get_json()
    assert "offline_copy" not in [a["action"] for a in other["accesses"]]
