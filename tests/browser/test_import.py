"""The admin at a desktop: imports a new cell and its households, fixes the one bad row, sees them on the map."""
import json

import pytest
from playwright.sync_api import expect

from fieldapp.data import db as database
from tests.browser.conftest import sign_in

# A new cell east of the demo community (which ends at 120.118), and three village houses inside it.
CELL = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "NEW-1", "name": "新建微网格"},
        "geometry": {"type": "Polygon", "coordinates": [[[120.130, 30.280], [120.134, 30.280], [120.134, 30.284],
                                                         [120.130, 30.284], [120.130, 30.280]]]}}]}
HOUSEHOLDS = ("external_id,building,unit,room,address,longitude,latitude,resident_name,resident_phone,resident_tags\n"
              "NEW-H1,,,,新村1号,120.1312,30.2812,赵大爷,13700000001,独居老人\n"
              "NEW-H2,,,,新村2号,120.1322,30.28x2,,,\n"
              "NEW-H3,,,,新村3号,120.1332,30.2832,钱阿姨,,\n")


@pytest.fixture
def desktop(browser, live_server):
    """A desktop page in Chinese."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def upload(page, kind, name, text):
    """Choose a file in the kind's upload form and ask for its preview."""
    section = page.locator(f"#import-{kind}")
    section.get_by_label("文件").set_input_files({"name": name, "mimeType": "text/plain", "buffer": text.encode()})
    section.get_by_role("button", name="预览").click()


def test_admin_imports_cells_and_households_fixing_the_bad_row(desktop, live_server):
    sign_in(desktop, "admin")
    desktop.get_by_role("link", name="导入").first.click()
    upload(desktop, "cells", "cells.geojson", json.dumps(CELL, ensure_ascii=False))
    expect(desktop.locator('[data-count="add"]')).to_have_text("1")
    desktop.get_by_role("button", name="确认导入").click()
    expect(desktop.get_by_role("status")).to_contain_text("新增 1")

    upload(desktop, "households", "住户.csv", HOUSEHOLDS)
    errors = desktop.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("第 3 行")
    expect(errors.first).to_contain_text("“30.28x2”不是数字。")
    expect(desktop.get_by_role("button", name="确认导入")).to_have_count(0)

    desktop.get_by_role("link", name="上传修改后的文件").click()
    upload(desktop, "households", "住户.csv", HOUSEHOLDS.replace("30.28x2", "30.2822"))
    expect(desktop.locator("#import-errors")).to_have_count(0)
    expect(desktop.locator('[data-count="add"]')).to_have_text("3")
    desktop.get_by_role("button", name="确认导入").click()
    expect(desktop.get_by_role("status")).to_contain_text("新增 3")

    db = live_server.db()
    cell_id = database.scalar(db, "SELECT id FROM cells WHERE code = 'NEW-1'")
    stored = database.scalar(db, "SELECT count(*) FROM households WHERE cell_id = ?", [cell_id])
    db.close()
    assert stored == 3
    desktop.goto(f"/map/?cell={cell_id}")
    expect(desktop.locator("#map-summary")).to_contain_text("共 3 户")
    expect(desktop.locator(".map-marker").first).to_be_visible()
