"""Photo evidence: uploads checked, re-encoded without metadata and kept once; waiting photos attached when their
record arrives or deleted after a day; photos served only to who may see their household."""
import hashlib
import io
import uuid
from datetime import timedelta

import pytest
from PIL import Image

from fieldapp import photostore, rules
from fieldapp.data import db as database
from fieldapp.data import photos as photo_data
from tests import factories


def jpeg(width=64, height=48, colour=(200, 40, 40), exif=None, **save):
    """A generated JPEG (no real photo), with EXIF when given."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG", **({"exif": exif} if exif else {}), **save)
    return out.getvalue()


def gps_exif():
    """EXIF with a camera's make and a GPS position, as a phone writes it."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (30.0, 16.0, 48.0), 3: "E", 4: (120.0, 6.0, 0.0)})
    return exif


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def world(db):
    grid = factories.make_grid(db)
    own, other = factories.make_cell(db, grid, lon=120.10), factories.make_cell(db, grid, lon=120.11)
    member = factories.make_user(db, "member", "m1")
    neighbour = factories.make_user(db, "member", "m2")
    factories.make_user(db, "leader", "lead", grid_id=grid)
    factories.assign(db, own, member)
    factories.assign(db, other, neighbour)
    household = factories.make_household(db, own, address="本格 1号")
    foreign = factories.make_household(db, other, address="邻格 2号")
    return {"member": member, "neighbour": neighbour, "household": household, "foreign": foreign,
            "visit": factories.make_visit(db, household, member),
            "foreign_visit": factories.make_visit(db, foreign, neighbour)}


def uuid_of(db, visit_id):
    return database.scalar(db, "SELECT uuid FROM visits WHERE id = ?", [visit_id])


@pytest.fixture
def send(client, auth, world):
    """Signed in as m1; send(data, **fields) uploads one photo for the visit m1 recorded (by default)."""
    auth.login("m1")

    def post(data, **fields):
        token = client.get("/api/session").get_json()["csrf_token"]
        form = {"record": "visit", "sha256": sha(data), **fields, "file": (io.BytesIO(data), "photo.jpg")}
        return client.post("/api/photos?lang=en", data=form, content_type="multipart/form-data",
                           headers={"X-CSRFToken": token})

    return post


def count(db, state=None):
    sql = "SELECT count(*) FROM photos" + (" WHERE state = ?" if state else "")
    return database.scalar(db, sql, [state] if state else [])


def test_upload_is_created_then_existing_on_resend(app, db, world, send):
    record = uuid_of(db, world["visit"])
    photo = jpeg(2400, 1800, exif=gps_exif())
    first = send(photo, record_uuid=record, caption="楼道灯 坏了")
    assert first.status_code == 201
    assert first.get_json() == {"status": "created", "id": first.get_json()["id"], "attached": True}
    again = send(photo, record_uuid=record, caption="楼道灯 坏了")
    assert again.status_code == 200 and again.get_json()["status"] == "existing"
    assert again.get_json()["id"] == first.get_json()["id"] and count(db) == 1
    stored = database.one(db, "SELECT * FROM photos")
    assert (stored["visit_id"], stored["state"], stored["kind"], stored["caption"]) == (
        world["visit"], "attached", "visit", "楼道灯 坏了")
    kept = Image.open(io.BytesIO(photostore.from_config(app.config).get(stored["sha256"])))
    assert kept.format == "JPEG" and max(kept.size) == 1600 and (stored["width"], stored["height"]) == (1600, 1200)
    assert not kept.getexif() and "exif" not in kept.info  # no camera, no GPS position left
    thumb = Image.open(io.BytesIO(photostore.from_config(app.config).get(stored["thumb_sha256"])))
    assert max(thumb.size) == 320


def test_orientation_is_applied_before_the_metadata_goes(app, db, world, send):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    send(jpeg(80, 40, exif=exif), record_uuid=uuid_of(db, world["visit"]))
    assert database.one(db, "SELECT width, height FROM photos") == {"width": 40, "height": 80}


@pytest.mark.parametrize("case", ["mismatch", "not_image", "png_named_jpeg_ok", "bomb"])
def test_bad_uploads_are_refused_and_nothing_kept(app, db, world, send, case, monkeypatch):
    record = uuid_of(db, world["visit"])
    if case == "mismatch":  # the connection dropped halfway: the bytes are not those hashed on the phone
        photo = jpeg()
        answer = send(photo[: len(photo) // 2], record_uuid=record, sha256=sha(photo))
        expected = (422, "incomplete or damaged", "retry")  # kept on the phone and sent again
    elif case == "not_image":
        answer = send(b"%PDF-1.4 not a photo at all", record_uuid=record)
        expected = (415, "not a photo", "rejected")
    elif case == "png_named_jpeg_ok":  # decoded for what it is, whatever its name says
        out = io.BytesIO()
        Image.new("RGBA", (30, 20), (0, 0, 255, 0)).save(out, "PNG")
        assert send(out.getvalue(), record_uuid=record).status_code == 201
        return
    else:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a tiny limit: this small photo is a "bomb"
        answer = send(jpeg(100, 100), record_uuid=record)
        expected = (413, "too many pixels", "rejected")
    assert (answer.status_code, answer.get_json()["status"]) == (expected[0], expected[2])
    assert expected[1] in answer.get_json()["errors"]["file"]
    assert count(db) == 0 and not photostore.from_config(app.config).shas()


def test_declared_huge_png_is_refused_from_its_header(app, db, world, send):
    """A few hundred bytes that claim 30000 x 30000 pixels: refused before a pixel is decoded."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    answer = send(png, record_uuid=uuid_of(db, world["visit"]))
    assert answer.status_code == 413 and count(db) == 0


def test_oversized_uploads_are_refused_in_json(app, db, world, send, client):
    record = uuid_of(db, world["visit"])
    over_limit = send(b"\xff\xd8" + b"\0" * (photo_data.MAX_BYTES + 10), record_uuid=record)
    assert over_limit.status_code == 413 and "at most 15 MB" in over_limit.get_json()["errors"]["file"]
    huge = send(b"\0" * (40 * 1024 * 1024), record_uuid=record)  # refused from its Content-Length
    assert huge.status_code == 413 and huge.is_json
    assert huge.get_json() == {"status": "rejected", "errors": {"file": "The photo is too large: at most 15 MB."}}
    assert count(db) == 0


def test_seventh_photo_is_refused(app, db, world, send):
    record = uuid_of(db, world["visit"])
    for n in range(6):
        assert send(jpeg(colour=(n * 30, 0, 0)), record_uuid=record).status_code == 201
    seventh = send(jpeg(colour=(0, 250, 0)), record_uuid=record)
    assert seventh.status_code == 409 and "At most 6 photos" in seventh.get_json()["errors"]["file"]
    assert count(db) == 6


def test_photo_for_another_cells_visit_is_refused(app, db, world, send):
    answer = send(jpeg(), record_uuid=uuid_of(db, world["foreign_visit"]))
    assert answer.status_code == 404 and answer.get_json()["status"] == "rejected" and count(db) == 0


def test_malformed_fields_are_named(app, db, world, send):
    answer = send(jpeg(), record="diary", record_uuid="", sha256="xyz", caption="长" * 201, taken_at="yesterday")
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]) == {"record", "record_uuid", "sha256", "caption", "taken_at"}


def test_signed_out_upload_gets_401(client):
    token = client.get("/api/session").get_json()["csrf_token"]
    answer = client.post("/api/photos", data={"record": "visit"}, headers={"X-CSRFToken": token})
    assert answer.status_code == 401 and answer.is_json


def test_photo_waits_for_its_visit_then_is_attached(app, db, world, send, client, monkeypatch):
    monkeypatch.setattr(rules, "utcnow", lambda: rules.parse_iso("2026-11-28T02:00:00Z"))
    record = str(uuid.uuid4())
    first = send(jpeg(), record_uuid=record, taken_at="2026-11-28T01:59:00Z")
    assert first.status_code == 201 and first.get_json()["attached"] is False
    photo_id = first.get_json()["id"]
    assert client.get(f"/photos/{photo_id}/thumb").status_code == 404  # never shown without its record
    token = client.get("/api/session").get_json()["csrf_token"]
    synced = client.post("/api/visits", json={"visits": [{
        "uuid": record, "household_id": world["household"], "visited_at": "2026-11-28T01:58:00Z",
        "outcome": "met", "notes": "", "residents_met": []}]}, headers={"X-CSRFToken": token})
    assert synced.get_json()["results"][0]["status"] == "created"
    row = database.one(db, "SELECT state, visit_id, taken_at FROM photos WHERE id = ?", [photo_id])
    assert row == {"state": "attached", "visit_id": synced.get_json()["results"][0]["visit_id"],
                   "taken_at": "2026-11-28T01:59:00Z"}
    assert client.get(f"/photos/{photo_id}/thumb").status_code == 200


def test_cleanup_deletes_old_waiting_photos_and_their_files(app, db, world, send, runner):
    kept = send(jpeg(colour=(1, 2, 3)), record_uuid=uuid_of(db, world["visit"])).get_json()["id"]
    waiting = send(jpeg(colour=(9, 9, 9)), record_uuid=str(uuid.uuid4())).get_json()["id"]
    same_as_kept = send(jpeg(colour=(1, 2, 3)), record_uuid=str(uuid.uuid4())).get_json()["id"]
    fresh = send(jpeg(colour=(7, 7, 7)), record_uuid=str(uuid.uuid4())).get_json()["id"]
    store = photostore.from_config(app.config)
    old_files = database.one(db, "SELECT sha256, thumb_sha256 FROM photos WHERE id = ?", [waiting])
    two_days_ago = rules.iso(rules.utcnow() - timedelta(days=2))
    with database.write(db):
        db.execute("UPDATE photos SET uploaded_at = ? WHERE id IN (?, ?)", [two_days_ago, waiting, same_as_kept])
    result = runner.invoke(args=["photos-cleanup"])
    assert result.exit_code == 0 and "2 photo(s) deleted" in result.output
    assert [r["id"] for r in database.rows(db, "SELECT id FROM photos ORDER BY id")] == [kept, fresh]
    assert not store.exists(old_files["sha256"]) and not store.exists(old_files["thumb_sha256"])
    assert len(store.shas()) == 4  # the kept photo's files stay, though a deleted one had the same bytes


def test_folder_store_is_content_addressed_and_atomic(tmp_path):
    store = photostore.FolderStore(tmp_path / "photos")
    name = store.put(b"jpeg bytes")
    assert name == sha(b"jpeg bytes") and store.put(b"jpeg bytes") == name
    assert store.path(name) == tmp_path / "photos" / name[:2] / name[2:4] / f"{name}.jpg"
    assert store.get(name) == b"jpeg bytes" and store.exists(name) and store.shas() == [name]
    assert not list((tmp_path / "photos").rglob(".partial-*"))
    store.delete(name)
    assert not store.exists(name)
    with pytest.raises(photostore.MissingPhoto):
        store.get(name)
    with pytest.raises(photostore.MissingPhoto):
        store.get("../../etc/passwd")


# --- Served to who may see the household -------------------------------------------------------------------------

def _photo_of(app, db, world, visit="visit", caption="门口 合影"):
    return factories.make_photo(db, app, visit_id=world[visit], content=jpeg(colour=(3, 4, 5)), caption=caption)


def test_photos_are_served_in_scope_privately_and_the_full_one_is_audited(app, db, world, client, auth):
    own, foreign = _photo_of(app, db, world), _photo_of(app, db, world, "foreign_visit")
    auth.login("m1")
    thumb = client.get(f"/photos/{own}/thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.headers["Cache-Control"] == "private, max-age=86400"
    assert thumb.headers["X-Offline-Keep"] == "1"  # a member's phone may keep it with the offline copy
    assert "camera=(self)" in thumb.headers["Permissions-Policy"]
    manifest = client.get("/api/offline-manifest").get_json()
    assert manifest["thumbnails"] == [f"/photos/{own}/thumb"]
    full = client.get(f"/photos/{own}")
    assert full.status_code == 200 and full.headers["Cache-Control"] == "private, max-age=300"
    assert "X-Offline-Keep" not in full.headers
    entry = database.one(db, "SELECT target_type, target_id, detail FROM audit_log WHERE action = 'view_photo'")
    assert entry == {"target_type": "household", "target_id": world["household"], "detail": f'{{"photo": {own}}}'}
    again = client.get(f"/photos/{own}", headers={"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304  # kept by the browser, and still written down
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'view_photo'") == 2
    assert client.get(f"/photos/{foreign}").status_code == 404
    assert client.get(f"/photos/{foreign}/thumb").status_code == 404
    auth.logout()
    auth.login("lead")  # the grid's leader sees both cells
    assert client.get(f"/photos/{foreign}/thumb").status_code == 200


def test_thumbnails_on_the_household_timeline_are_named_photo(app, db, world, client, auth):
    photo = _photo_of(app, db, world)
    auth.login("m1")
    english = client.get(f"/households/{world['household']}?lang=en").get_data(as_text=True)
    visit = english.split(f'id="visit-{world["visit"]}"', 1)[1].split("</li>\n", 1)[0]
    assert f'<a href="/photos/{photo}"><img src="/photos/{photo}/thumb"' in visit
    assert 'alt="Photo: 门口 合影"' in visit
    chinese = client.get(f"/households/{world['household']}?lang=zh").get_data(as_text=True)
    assert 'alt="照片：门口 合影"' in chinese


def test_review_list_shows_the_doubtful_visits_photos(app, db, world, client, auth):
    photo = _photo_of(app, db, world, caption=None)  # the factories' visits have no position: doubtful
    auth.login("lead")
    page = client.get("/review/?lang=en").get_data(as_text=True)
    item = page.split(f'id="visit-{world["visit"]}"', 1)[1].split("</li>", 1)[0]
    assert f'src="/photos/{photo}/thumb"' in item and 'alt="Photo"' in item


def test_coverage_counts_households_with_a_photographed_visit(app, db, world, client, auth):
    _photo_of(app, db, world)
    _photo_of(app, db, world, caption="第二张")  # one household, however many photos
    auth.login("lead")
    page = client.get("/coverage/?lang=en").get_data(as_text=True)
    cell = database.scalar(db, "SELECT cell_id FROM households WHERE id = ?", [world["household"]])
    own = page.split(f'data-cell-id="{cell}"', 1)[1]
    assert '<td class="num" data-label="With photo">1</td>' in own.split("</tr>", 1)[0]


# --- Resolving a request with its photos ------------------------------------------------------------------------

@pytest.fixture
def resolvable(db, world, client, auth):
    """An open request of m1's household raised in the visit, and the page's resolve form fields."""
    request_id = factories.make_request(db, world["household"], world["member"], visit_id=world["visit"])
    auth.login("m1")
    page = client.get(f"/ledger/{request_id}?lang=en").get_data(as_text=True)
    form = page.split('id="resolve"', 1)[1].split("</form>", 1)[0]

    def value(name):
        return form.split(f'name="{name}" value="', 1)[1].split('"', 1)[0]

    assert 'enctype="multipart/form-data"' in form and 'capture="environment"' in form and "multiple" in form
    return {"id": request_id, "fields": {"csrf_token": value("csrf_token"), "version": value("version"),
                                         "step_uuid": value("step_uuid"), "resolution": "灯已换好"}}


def test_resolve_form_keeps_its_photos_once_and_shows_before_and_after(app, db, world, client, resolvable):
    before = _photo_of(app, db, world, caption="坏灯")
    url = f"/ledger/{resolvable['id']}/resolve"

    def send():
        files = [(io.BytesIO(jpeg(2000, 1000, exif=gps_exif())), "IMG_1.jpg"),
                 (io.BytesIO(jpeg(colour=(0, 0, 99))), "IMG_2.jpg")]
        return client.post(url, data={**resolvable["fields"], "captions": "新灯\n开关", "photos": files},
                           content_type="multipart/form-data")

    assert send().status_code == 302
    assert send().status_code == 302  # the same form again (a double tap, a resend): nothing added
    assert database.scalar(db, "SELECT count(*) FROM request_events WHERE kind = 'resolved'") == 1
    after = database.rows(db, "SELECT id, caption, kind, state, request_event_id, width FROM photos "
                              "WHERE kind = 'resolution' ORDER BY id")
    assert [(p["caption"], p["state"], p["width"]) for p in after] == [
        ("新灯", "attached", 1600), ("开关", "attached", 64)]
    page = client.get(f"/ledger/{resolvable['id']}?lang=en").get_data(as_text=True)
    proof = page.split('class="card photo-proof"', 1)[1].split("</section>", 1)[0]
    shown_before, shown_after = proof.split("<h3>After</h3>")
    assert f"/photos/{before}/thumb" in shown_before and 'alt="Photo: 坏灯"' in shown_before
    assert all(f"/photos/{p['id']}/thumb" in shown_after for p in after) and 'alt="Photo: 新灯"' in shown_after


def test_resolve_form_refuses_a_bad_file_at_its_field_and_saves_nothing(app, db, world, client, resolvable):
    answer = client.post(f"/ledger/{resolvable['id']}/resolve?lang=en", content_type="multipart/form-data", data={
        **resolvable["fields"],
        "photos": [(io.BytesIO(jpeg()), "ok.jpg"), (io.BytesIO(b"MZ\x90 not a photo"), "x.exe")]})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="error-photos"' in page and "“x.exe”: This file is not a photo" in page
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [resolvable["id"]]) == "open"
    assert count(db) == 0 and not photostore.from_config(app.config).shas()
    seven = [(io.BytesIO(jpeg(colour=(n, 0, 0))), f"{n}.jpg") for n in range(7)]
    answer = client.post(f"/ledger/{resolvable['id']}/resolve?lang=en", content_type="multipart/form-data",
                         data={**resolvable["fields"], "photos": seven})
    assert answer.status_code == 422 and "At most 6 photos" in answer.get_data(as_text=True) and count(db) == 0


def test_resolution_photo_sent_ahead_of_its_form_is_attached_by_it(app, db, world, client, resolvable, send):
    step = resolvable["fields"]["step_uuid"]
    ahead = send(jpeg(), record="resolution", record_uuid=step, request_id=str(resolvable["id"]))
    assert ahead.status_code == 201 and ahead.get_json()["attached"] is False
    client.post(f"/ledger/{resolvable['id']}/resolve", data=resolvable["fields"], content_type="multipart/form-data")
    later = send(jpeg(colour=(5, 5, 5)), record="resolution", record_uuid=step, request_id=str(resolvable["id"]))
    assert later.status_code == 201 and later.get_json()["attached"] is True
    event = database.scalar(db, "SELECT id FROM request_events WHERE uuid = ?", [step])
    assert database.rows(db, "SELECT state, request_event_id FROM photos ORDER BY id") == [
        {"state": "attached", "request_event_id": event}] * 2


# --- Retention, the resident's export, backup and restore -------------------------------------------------------

def test_retention_deletes_the_photos_of_a_household_that_moved_out_long_ago(app, db, world, runner):
    now = rules.utcnow()
    gone = factories.make_household(db, database.scalar(db, "SELECT cell_id FROM households WHERE id = ?",
                                                        [world["household"]]))
    factories.make_resident(db, gone, name="赵")
    lived = factories.make_visit(db, gone, world["member"], rules.iso(now - timedelta(days=500)))
    factories.make_visit(db, gone, world["member"], rules.iso(now - timedelta(days=400)), outcome="moved_out")
    empty = factories.make_visit(db, gone, world["member"], rules.iso(now - timedelta(days=300)), outcome="moved_out")
    old = factories.make_photo(db, app, visit_id=lived, content=b"old photo")
    of_the_empty_flat = factories.make_photo(db, app, visit_id=empty, content=b"empty flat")
    kept = _photo_of(app, db, world)
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert [r["id"] for r in database.rows(db, "SELECT id FROM photos ORDER BY id")] == [of_the_empty_flat, kept]
    assert old not in [r["id"] for r in database.rows(db, "SELECT id FROM photos")]
    assert not photostore.from_config(app.config).exists(sha(b"old photo"))
    assert '"photos": 1' in database.scalar(db, "SELECT detail FROM audit_log WHERE action = 'purge'")


def test_the_residents_export_lists_the_households_photos(app, db, world):
    from fieldapp.data import privacy

    resident = factories.make_resident(db, world["household"], name="王")
    photo = _photo_of(app, db, world)
    listed = privacy.resident_record(db, resident)["photos"]
    assert [(p["id"], p["kind"], p["caption"], p["visit_id"]) for p in listed] == [
        (photo, "visit", "门口 合影", world["visit"])]


def test_backup_and_restore_carry_the_photo_store(app, db, world, tmp_path):
    from fieldapp import backup

    photo = _photo_of(app, db, world)
    folder = app.config["PHOTOS"]
    first = backup.backup(app.config["DATABASE"], str(tmp_path / "one.db"), photos=folder)
    assert first["photos"] == backup.back_up_photos(folder, str(tmp_path / "two.db")) == 1  # the next night's
    name = database.scalar(db, "SELECT sha256 FROM photos WHERE id = ?", [photo])
    copies = [photostore.FolderStore(str(tmp_path / f"{n}.db.photos")).path(name) for n in ("one", "two")]
    assert copies[0].read_bytes() == photostore.FolderStore(folder).get(name)
    assert copies[0].stat().st_ino == copies[1].stat().st_ino  # the second backup links, it does not copy again
    fresh = str(tmp_path / "restored-photos")
    assert backup.restore_photos(str(tmp_path / "two.db"), fresh) == 1
    assert photostore.FolderStore(fresh).get(name) == photostore.FolderStore(folder).get(name)
