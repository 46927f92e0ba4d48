"""Photo evidence without signal: two photos taken at the door are shrunk on the phone, wait with their visit
through a reload, and reach the server once each after the visit, over a slow connection that drops once; their
thumbnails show on the timeline, and still without signal."""
import base64
import io
import re

from PIL import Image, ImageDraw
from playwright.sync_api import expect

from fieldapp.data import db as database
from tests.browser.conftest import sign_in, wait_for_service_worker

GPS = 0x8825
ORIENTATION = 0x0112
# Chromium's "Slow 4G" preset (DevTools): 562.5 ms latency, 1.6 Mbit/s down and 750 kbit/s up, at 90 %.
SLOW_4G = {"offline": False, "latency": 562.5, "downloadThroughput": 1.6e6 / 8 * 0.9,
           "uploadThroughput": 750e3 / 8 * 0.9}


def camera_jpeg(width=4000, height=3000, seed=0, orientation=None):
    """A generated photo as a phone's camera writes it: a scene with texture and sensor grain (so that it shrinks
    as a real photo does, not to nothing), JPEG at quality 92, EXIF with the camera's GPS position (and an
    orientation, if given)."""
    scene = Image.merge("RGB", (Image.linear_gradient("L").resize((width, height)),
                                Image.linear_gradient("L").rotate(90).resize((width, height)),
                                Image.radial_gradient("L").resize((width, height))))
    draw = ImageDraw.Draw(scene)
    for i in range(40):
        x, y = (i * 997 + seed * 131) % width, (i * 571 + seed * 89) % height
        draw.rectangle([x, y, x + width // 13, y + height // 15], fill=(i * 40 % 256, i * 90 % 256, i * 150 % 256))
    texture = Image.effect_noise((width // 4, height // 4), 48).resize((width, height), Image.BICUBIC)
    grain, tile = Image.new("L", (width, height)), Image.effect_noise((512, 512), 32)  # tiled: noise is slow
    for x in range(0, width, 512):
        for y in range(0, height, 512):
            grain.paste(tile, (x, y))
    scene = Image.blend(scene, Image.blend(texture, grain, 0.4).convert("RGB"), 0.3)
    exif = Image.Exif()
    exif[0x0110] = "Test Camera"
    exif[GPS] = {1: "N", 2: (30.0, 16.0, 48.0), 3: "E", 4: (120.0, 6.0, 0.0)}
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    scene.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def back_online_slowly(phone):
    """The signal returns, slow: Slow 4G under the page, then online, offline, online (so that a page opened
    without signal hears "online", as in test_offline)."""
    cdp = phone.context.new_cdp_session(phone)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_4G)
    for offline in (False, True, False):
        phone.context.set_offline(offline)
    return cdp


def kept_photos(phone):
    """The photos the phone keeps: their size, and their bytes (base64) as they will be sent."""
    return phone.evaluate("""() => offlineQueue.photos().then(photos => Promise.all(photos.map(photo =>
        photo.blob.arrayBuffer().then(bytes => ({ size: photo.size, caption: photo.caption, uuid: photo.visit_uuid,
          sha256: photo.sha256,
          bytes: btoa(Array.from(new Uint8Array(bytes), b => String.fromCharCode(b)).join("")) })))))""")


def test_two_photos_taken_offline_reach_the_server_once_each_after_their_visit(phone, live_server):
    originals = [camera_jpeg(seed=1), camera_jpeg(seed=2, orientation=6)]  # the second held sideways
    sign_in(phone, "member1")
    wait_for_service_worker(phone)
    expect(phone.locator("#offline-status")).to_have_attribute("data-prepared-at", re.compile("."), timeout=90_000)
    household_id = int(phone.locator(".household-row").first.get_attribute("data-household-id"))
    db = live_server.db()
    visits_before = database.scalar(db, "SELECT count(*) FROM visits WHERE household_id = ?", [household_id])
    db.close()

    phone.context.set_offline(True)
    phone.goto(f"/households/{household_id}")
    phone.get_by_role("link", name="记录走访").click()
    phone.get_by_label("见到居民").check()
    phone.get_by_label("备注").fill("楼道灯坏了，拍照留痕")
    phone.get_by_label("添加照片").set_input_files([
        {"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": originals[0]},
        {"name": "IMG_0002.jpg", "mimeType": "image/jpeg", "buffer": originals[1]}])
    previews = phone.locator("#photo-list img")
    expect(previews).to_have_count(2, timeout=30_000)
    expect(previews.first).to_have_accessible_name("照片 1（尚未保存）")
    captions = phone.get_by_label("说明（可选）")
    captions.nth(0).fill("坏了的楼道灯")
    captions.nth(1).fill("贴出的通知")
    phone.get_by_role("button", name="保存走访").click()
    pending = phone.locator("#pending-visits")
    expect(pending).to_contain_text("等待发送")
    expect(pending).to_contain_text("📷 2 张照片")

    phone.reload()
    expect(pending).to_contain_text("📷 2 张照片")
    expect(phone.locator("#queue-count")).to_have_text(re.compile(r"^等待发送：1 · 2 张照片，0\.\d MB$"))
    kept = kept_photos(phone)
    assert sorted(photo["caption"] for photo in kept) == ["坏了的楼道灯", "贴出的通知"]
    for photo in kept:  # shrunk on the phone: long edge 1600 px, at most 300 KB, no EXIF (so no GPS)
        data = base64.b64decode(photo["bytes"])
        assert len(data) == photo["size"] <= 300 * 1024 < len(originals[0]) // 10
        image = Image.open(io.BytesIO(data))
        assert max(image.size) == 1600 and not image.getexif() and b"Exif" not in data[:4096]
    sizes = sorted(Image.open(io.BytesIO(base64.b64decode(photo["bytes"]))).size for photo in kept)
    assert sizes == [(1200, 1600), (1600, 1200)]  # the sideways photo stood up from its EXIF orientation
    visit_uuid = kept[0]["uuid"]

    uploads = []

    def stored_then_lost_once(route):
        uploads.append(route.request.post_data_buffer)
        if len(uploads) == 1:
            route.fetch()  # the server keeps the first photo ...
            return route.abort()  # ... and the phone never hears back
        route.continue_()

    answers = []
    phone.on("response", lambda response: answers.append(response.status) if "/api/photos" in response.url else None)
    phone.route("**/api/photos", stored_then_lost_once)
    cdp = back_online_slowly(phone)
    expect(phone.locator("#queue-bar")).to_be_hidden(timeout=90_000)
    # The first photo sent again after the lost answer: "existing" (200), then the second one "created" (201).
    assert len(uploads) == 3 and answers == [200, 201]

    db = live_server.db()
    visits = database.rows(db, "SELECT id FROM visits WHERE uuid = ?", [visit_uuid])
    photos = database.rows(db, "SELECT visit_id, caption, bytes, client_sha256 FROM photos WHERE record_uuid = ? "
                               "ORDER BY caption", [visit_uuid])
    visits_after = database.scalar(db, "SELECT count(*) FROM visits WHERE household_id = ?", [household_id])
    db.close()
    assert len(visits) == 1 and visits_after == visits_before + 1
    assert [(p["visit_id"], p["caption"]) for p in photos] == [(visits[0]["id"], "坏了的楼道灯"),
                                                             (visits[0]["id"], "贴出的通知")]
    assert all(p["bytes"] <= 300 * 1024 for p in photos)
    assert sorted(p["client_sha256"] for p in photos) == sorted(photo["sha256"] for photo in kept)

    cdp.send("Network.emulateNetworkConditions", {**SLOW_4G, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    phone.goto(f"/households/{household_id}")
    thumbnails = phone.locator(f"#visit-{visits[0]['id']}").get_by_role("img", name=re.compile("^照片"))
    expect(thumbnails).to_have_count(2)
    assert sorted(thumbnails.evaluate_all("images => images.map(image => image.alt)")) == [
        "照片：坏了的楼道灯", "照片：贴出的通知"]
    def shown():  # not broken: the thumbnails load (lazily, once in view)
        for index in range(2):
            thumbnails.nth(index).scroll_into_view_if_needed()
            expect(thumbnails.nth(index)).to_have_js_property("complete", True)
            assert thumbnails.nth(index).evaluate("image => image.naturalWidth") > 0

    shown()
    # The phone keeps the thumbnails of the member's own households (never a full photo) and shows them offline.
    kept_urls = phone.evaluate("caches.open('fieldapp-pages').then(cache => cache.keys())"
                               ".then(keys => keys.map(key => new URL(key.url).pathname))")
    assert sorted(url for url in kept_urls if url.startswith("/photos/")) == sorted(
        thumbnails.evaluate_all("images => images.map(image => new URL(image.src).pathname)"))
    phone.context.set_offline(True)
    phone.reload()
    expect(thumbnails).to_have_count(2)
    shown()
