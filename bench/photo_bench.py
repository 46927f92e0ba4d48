"""Photos from the phone, in Chromium: a 4000 x 3000 camera JPEG through the phone's shrink (bytes kept and sent,
next to the original's), and 100 queued photos sent over Chromium's "Slow 4G" emulation by the phone's queue,
all arriving exactly once, next to the same bytes posted by a bare fetch loop in the same run (the baseline).

    .venv/bin/python bench/photo_bench.py      (make bench-photos)
"""
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.serving import make_server  # noqa: E402

from bench.common import big_database  # noqa: E402
from fieldapp import create_app  # noqa: E402
from fieldapp.data import db as database  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.test_photos import SLOW_4G, camera_jpeg  # noqa: E402

PHOTOS = int(os.environ.get("PHOTO_BENCH_PHOTOS", 100))
PER_VISIT = 6  # the most a visit takes
ORIGINAL = "/bench/original.jpg"
SINK = "/bench/sink"


class Bench:
    """The app, plus the bench's two paths: the original photo (as if from the camera) and a sink that reads a
    POST's body and answers 204, for the baseline; it counts the bytes of every photo upload it passes on."""

    def __init__(self, app, original):
        self.app, self.original, self.upload_bytes = app, original, []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == ORIGINAL:
            start_response("200 OK", [("Content-Type", "image/jpeg"), ("Content-Length", str(len(self.original)))])
            return [self.original]
        if path == SINK:
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("204 No Content", [])
            return []
        if path == "/api/photos" and environ.get("REQUEST_METHOD") == "POST":
            self.upload_bytes.append(int(environ.get("CONTENT_LENGTH") or 0))
        return self.app(environ, start_response)


# In the page: the phone's shrink of the original, timed.
SHRINK = """async () => {
  const original = await (await fetch(arguments_url)).blob();
  const file = new File([original], "IMG_0001.jpg", { type: "image/jpeg", lastModified: Date.now() });
  const started = performance.now();
  const shrunk = await visitPhotos.shrink(file);
  const ms = performance.now() - started;
  window.benchShrunk = shrunk.blob;
  return { original: original.size, kept: shrunk.blob.size, width: shrunk.width, height: shrunk.height, ms };
}"""

# In the page: visits and PHOTOS distinct photos (the shrunk photo, each with its number drawn in) put into the
# queue, as the visit form keeps them.
QUEUE = """async ({ householdIds, userId, photos, perVisit }) => {
  const bitmap = await createImageBitmap(window.benchShrunk);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  const context = canvas.getContext("2d");
  const uuids = [], uploads = [];
  for (let i = 0; i < photos; i++) {
    if (i % perVisit === 0) {
      const uuid = newUuid();
      uuids.push(uuid);
      const householdId = householdIds[uuids.length - 1];
      await offlineQueue.put({ uuid, household_id: householdId, user_id: userId, state: "waiting", errors: {},
        queued_at: new Date().toISOString(), payload: { uuid, household_id: householdId,
          visited_at: new Date().toISOString(), lat: null, lon: null, accuracy: null, no_location_reason: "unavailable",
          outcome: "met", residents_met: [], notes: "photo bench", new_requests: [], followups: [], changes: [] } });
    }
    context.drawImage(bitmap, 0, 0);
    context.fillStyle = "#fff"; context.font = "64px sans-serif"; context.fillText("#" + i, 40, 100);
    const blob = await new Promise(resolve => canvas.toBlob(resolve, "image/jpeg", 0.75));
    const photo = { visit_uuid: uuids[uuids.length - 1], sha256: await visitPhotos.sha256(blob),
      household_id: householdIds[uuids.length - 1], user_id: userId, caption: "bench " + i, blob, size: blob.size,
      taken_at: null, state: "waiting", errors: {}, queued_at: new Date().toISOString(), order: i % perVisit };
    uploads.push(photo);
    await offlineQueue.putPhoto(photo);
  }
  window.benchUploads = uploads;
  return { uuids, bytes: uploads.reduce((sum, photo) => sum + photo.size, 0) };
}"""

# In the page: the baseline, the same photos posted one after the other by a bare fetch loop.
BASELINE = """async (sink) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const started = performance.now();
  for (const photo of window.benchUploads) {  // the queue's form fields too: the same bytes
    const body = new FormData();
    body.append("record", "visit"); body.append("record_uuid", photo.visit_uuid); body.append("sha256", photo.sha256);
    body.append("caption", photo.caption); body.append("file", photo.blob, "photo.jpg");
    await fetch(sink, { method: "POST", body, headers: { "X-CSRFToken": token } });
  }
  return (performance.now() - started) / 1000;
}"""


def member_households(path, username="member1"):
    """The member's id and the ids of (enough of) the households of the member's cells."""
    db = database.connect(path)
    user_id = database.scalar(db, "SELECT id FROM users WHERE username = ?", [username])
    ids = [row["id"] for row in database.rows(db, """
        SELECT h.id FROM households h JOIN assignments a ON a.cell_id = h.cell_id AND a.valid_to IS NULL
        WHERE a.user_id = ? AND h.retired_at IS NULL ORDER BY h.id LIMIT 40""", [user_id])]
    db.close()
    return user_id, ids


def arrived(path, uuids):
    """Visits and photos on the server for the bench's visit uuids: (visits, photos, distinct photos)."""
    db = database.connect(path)
    params = {}
    marks = database.in_clause("record_uuid", uuids, params, "u")
    photos = database.one(db, f"SELECT count(*) AS n, count(DISTINCT record_uuid || client_sha256) AS distinct_n "
                              f"FROM photos WHERE {marks} AND state = 'attached'", params)
    params = {}
    visits = database.scalar(db, f"SELECT count(*) FROM visits WHERE {database.in_clause('uuid', uuids, params, 'u')}",
                             params)
    db.close()
    return visits, photos["n"], photos["distinct_n"]


def main():
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="photo-bench-"))
    path = str(folder / "fieldapp.db")
    shutil.copy(big_database(2000), path)
    original = camera_jpeg()
    app = create_app({"DATABASE": path, "SECRET_KEY": "bench", "PHOTOS": str(folder / "photos")})
    bench = Bench(app.wsgi_app, original)
    app.wsgi_app = bench
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    user_id, household_ids = member_households(path)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(**playwright.devices["Pixel 5"], locale="zh-CN",
                                          base_url=f"http://127.0.0.1:{server.server_port}")
            page = context.new_page()
            page.goto("/auth/login")
            page.fill("#username", "member1")
            page.fill("#password", "demo1234")
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/auth/login" not in url)
            page.goto(f"/households/{household_ids[0]}/visits/new")  # the page that loads photos.js
            shrink = page.evaluate(SHRINK.replace("arguments_url", repr(ORIGINAL)))

            context.set_offline(True)  # nothing is sent while the queue fills
            queued = page.evaluate(QUEUE, {"householdIds": household_ids, "userId": user_id, "photos": PHOTOS,
                                           "perVisit": PER_VISIT})
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            bench.upload_bytes.clear()
            started = time.perf_counter()
            cdp.send("Network.emulateNetworkConditions", SLOW_4G)
            context.set_offline(False)  # the signal is back, at Slow 4G
            page.evaluate("offlineQueue.send()")
            page.wait_for_function("""() => Promise.all([offlineQueue.all(), offlineQueue.photos()])
                .then(([visits, photos]) => visits.length + photos.length === 0)""", polling=200, timeout=1_800_000)
            queue_seconds = time.perf_counter() - started
            baseline_seconds = page.evaluate(BASELINE, SINK)
            browser.close()
    finally:
        server.shutdown()
    visits, photos, distinct = arrived(path, queued["uuids"])
    shutil.rmtree(folder, ignore_errors=True)

    print(f"shrink on the phone: a 4000 x 3000 camera JPEG of "
          f"{shrink['original'] / 1024:.0f} KB -> {shrink['width']:.0f} x {shrink['height']:.0f}, "
          f"{shrink['kept'] / 1024:.0f} KB kept and sent (goal <= 300 KB), in {shrink['ms']:.0f} ms")
    print(f"{PHOTOS} queued photos ({queued['bytes'] / 1048576:.1f} MB, {len(queued['uuids'])} visits), Slow 4G "
          f"({SLOW_4G['latency']} ms, {SLOW_4G['uploadThroughput'] * 8 / 1000:.0f} kbit/s up): "
          f"sent by the queue in {queue_seconds:.1f} s; the same bytes by a bare fetch loop in {baseline_seconds:.1f} s "
          f"(queue/baseline {queue_seconds / baseline_seconds:.2f})")
    print(f"on the server: {visits} visits of {len(queued['uuids'])}, {photos} photos attached, {distinct} distinct, "
          f"{len(bench.upload_bytes)} uploads received ({sum(bench.upload_bytes) / 1048576:.1f} MB of bodies)")
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if not (visits == len(queued["uuids"]) and photos == distinct == PHOTOS):
        sys.exit("photos lost or doubled")


if __name__ == "__main__":
    main()
