"""The member's list renders each row once per set of values it shows and keeps it (households.ROWS): whatever
changes a household shows in its row at once, in the page's language."""
import re

from fieldapp import rules
from fieldapp.data import db as database
from tests import factories


def row_of(client, household_id, url="/households/?lang=en"):
    """The list row of household_id as the member's list shows it."""
    page = client.get(url).get_data(as_text=True)
    return page.split(f'data-household-id="{household_id}"', 1)[1].split("</li>", 1)[0]


def test_a_row_shows_each_change_of_its_household_in_the_pages_language(auth, client, db):
    cell = factories.make_cell(db)
    member = factories.make_user(db, "member", "m1", display_name="李娜")
    factories.assign(db, cell, member)
    flat = factories.make_household(db, cell, factories.make_building(db, cell), unit="2", room="501")
    village = factories.make_household(db, cell, None, address="龙坞村 <b>37</b>号", lon=120.1015, lat=30.2815)
    auth.login("m1")
    row = row_of(client, flat)
    assert "Unit 2 Room 501" in row and "Never visited" in row and "Due for a visit" in row
    assert "从未走访" in row_of(client, flat, "/households/?lang=zh")

    factories.make_visit(db, flat, member)  # a visit
    row = row_of(client, flat)
    assert f"Last visit {rules.today().isoformat()}, 李娜" in row and "Visited this cycle" in row
    assert f"上次走访 {rules.today().isoformat()}，李娜" in row_of(client, flat, "/households/?lang=zh")

    factories.make_request(db, flat, member)  # a request
    row = row_of(client, flat)
    assert "1 open request(s)" in row and "Open request" in row and "Visited this cycle" not in row

    with database.write(db):  # a register change of the room
        db.execute("UPDATE households SET room = '502' WHERE id = ?", [flat])
    assert "Unit 2 Room 502" in row_of(client, flat)

    assert "Elderly living alone" not in row_of(client, village)
    factories.make_resident(db, village, tags=["elderly_alone"])  # a tag
    row = row_of(client, village)
    assert "Elderly living alone" in row and "龙坞村 &lt;b&gt;37&lt;/b&gt;号" in row
    assert "独居老人" in row_of(client, village, "/households/?lang=zh")

    near = row_of(client, village, "/households/?lang=en&order=nearest&lat=30.2815&lon=120.1015")
    far = row_of(client, village, "/households/?lang=en&order=nearest&lat=30.2815&lon=120.1025")
    assert re.search(r'class="distance">0 m<', near) and re.search(r'class="distance">96 m<', far)
