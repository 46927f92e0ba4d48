"""The grid leader's map in Debian chromium: the grid's cells and buildings on one screen, "not visited
this cycle" one tap away, a building's popup, a household page; nothing leaves 127.0.0.1 (tiles none)."""
import re
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from fieldapp.data import db as database
from tests.browser.conftest import sign_in


def grid_cells(server, username):
    db = server.db()
    count = database.scalar(db, "SELECT count(*) FROM cells WHERE grid_id = "
                                "(SELECT grid_id FROM users WHERE username = ?)", [username])
    db.close()
    return count


def watch(page):
    """Every URL the page asks for, and every script error or CSP violation it reports."""
    requested, problems = [], []
    page.context.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    return requested, problems


def open_a_building(page):
    """Zoom into clusters until a building's marker shows, then open its popup."""
    building = page.locator(".leaflet-marker-icon.map-marker.kind-b")
    for _ in range(4):
        if building.count():
            break
        page.locator(".leaflet-marker-icon.map-marker.kind-cluster").first.click()
        page.wait_for_timeout(400)  # Leaflet's zoom animation, then moveend redraws
    building.first.click()
    popup = page.locator(".leaflet-popup-content .map-popup")
    expect(popup).to_contain_text("号楼")
    return popup


@pytest.fixture
def desktop(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", base_url=live_server.url)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_leader_sees_the_grid_filters_and_opens_a_household(request, live_server, viewport):
    page = request.getfixturevalue(viewport)
    requested, problems = watch(page)
    sign_in(page, "leader1")
    page.get_by_role("link", name="地图").first.click()
    frame = page.locator("#map-frame")
    expect(frame).to_have_attribute("data-ready", "true")

    # The whole grid on one screen: its cells, labelled with coverage, and its buildings or clusters.
    labels = page.locator(".cell-label > span")
    expect(labels).to_have_count(grid_cells(live_server, "leader1"))
    expect(labels.first).to_contain_text("已走访")
    expect(page.locator(".leaflet-marker-icon.map-marker").first).to_be_visible()
    summary = page.locator("#map-summary")
    expect(summary).to_contain_text("户")
    everyone = int(re.search(r"(\d+)", summary.inner_text()).group(1))

    page.get_by_text("图例").click()
    expect(page.locator("#map-legend")).to_contain_text("诉求逾期")

    page.get_by_text("本周期未走访").click()
    expect(page).to_have_url(re.compile(r"not_visited=1"))
    expect(frame).to_have_attribute("data-ready", "true")
    not_visited = int(re.search(r"(\d+)", summary.inner_text()).group(1))
    assert 0 < not_visited < everyone

    popup = open_a_building(page)
    expect(popup).to_contain_text("符合筛选条件")
    first = popup.locator(".popup-households a").first
    expect(first.locator(".status")).not_to_contain_text("本周期已走访")
    first.click()
    expect(page).to_have_url(re.compile(r"/households/\d+$"))
    expect(page.get_by_role("link", name="记录走访")).to_be_visible()

    if viewport == "phone":  # the phone fixture allows geolocation
        page.go_back()
        expect(frame).to_have_attribute("data-ready", "true")
        page.get_by_role("button", name="定位我").click()
        expect(page.locator("#map-message")).to_contain_text("您在这里")
        expect(page.locator("path.you-are-here")).to_have_count(1)

    assert [url for url in requested if urlparse(url).hostname != "127.0.0.1"] == []
    assert problems == []
