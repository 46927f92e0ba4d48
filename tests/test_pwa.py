"""The installable app: one set of names and URLs for the pages' offline scripts and the service worker."""
import html
import json
import re
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "static" / "js"
ROUTES = {"session": "GET", "visits": "POST", "photos": "POST", "manifest": "GET", "offline": "GET", "serviceWorker": "GET",
          "signIn": "GET", "signOut": "POST"}


def page_config(client, path="/auth/login"):
    """The offline scripts' config a page carries (<body data-offline-config>)."""
    page = client.get(path).get_data(as_text=True)
    return json.loads(html.unescape(re.search(r"data-offline-config='([^']*)'", page).group(1)))


def worker_config(client):
    """The config the service worker's source defines."""
    source = client.get("/sw.js").get_data(as_text=True)
    return json.loads(re.search(r"self\.offlineConfig = (\{.*?\n\});", source, re.S).group(1))


def test_pages_and_the_service_worker_share_one_config_of_real_routes(app, client):
    page, worker = page_config(client), worker_config(client)
    assert page.items() <= worker.items()
    assert page["pagesCache"] == "fieldapp-pages" and page["keepHeader"] == "X-Offline-Keep"
    adapter = app.url_map.bind("localhost")
    for name, method in ROUTES.items():
        assert adapter.match(page[name], method=method), name
    assert worker["shellCache"].startswith(worker["shellCachePrefix"]) and worker["offline"] in worker["shell"]
    assert "/static/js/offline-config.js" in worker["shell"]
    assert all(client.get(url).status_code == 200 for url in worker["shell"] + worker["scripts"])


def test_the_scripts_hold_no_path_cache_name_header_or_text_of_their_own():
    for script in sorted(SCRIPTS.glob("*.js")):
        source = script.read_text(encoding="utf-8")
        paths = re.findall(r'"/(?:api|auth|offline|households|map|static|sw\.js)\b[^"]*"', source)
        assert paths == [], (script.name, paths)
        assert not re.search(r'"(?:fieldapp-pages|fieldapp-shell-|X-Offline-)', source), script.name
        assert not re.search(r"[\u4e00-\u9fff]", source), script.name  # words come translated from the page
