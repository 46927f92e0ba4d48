"""A request that belongs to a building or to a cell is in the ledger of that cell's members and leader, and
nowhere else: lists, counts, the request's page, overdue figures, hand-over."""
from fieldapp.data import db as database
from fieldapp.data import ledger
from tests import factories


def _world(db):
    """Grid A: cell a1 (member m1, building 3号楼), cell a2 (member m2); grid B led by lead2; each cell a request
    of its own place, overdue."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, a2 = factories.make_cell(db, grid_a, name="甲一区"), factories.make_cell(db, grid_a, name="甲二区")
    b1 = factories.make_cell(db, grid_b, name="乙一区")
    m1, m2 = factories.make_user(db, "member", "m1"), factories.make_user(db, "member", "m2")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "leader", "lead2", grid_id=grid_b)
    factories.assign(db, a1, m1)
    factories.assign(db, a2, m2)
    building = factories.make_building(db, a1, name="3号楼")
    lead = database.scalar(db, "SELECT id FROM users WHERE username = 'lead'")
    on_building = factories.make_request(db, None, lead, building_id=building, description="楼道灯坏了",
                                         due_date="2020-01-01")
    on_cell = factories.make_request(db, None, lead, cell_id=a2, description="村道积水", due_date="2020-01-01")
    return dict(a1=a1, a2=a2, b1=b1, m1=m1, m2=m2, lead=lead, building=building, on_building=on_building,
                on_cell=on_cell)


def test_a_buildings_request_is_in_its_cells_ledger_only(auth, client, db):
    world = _world(db)
    seen = {}
    for username in ("m1", "m2", "lead", "lead2"):
        auth.login(username)
        body = client.get("/ledger/?lang=en").get_data(as_text=True)
        page = client.get(f"/ledger/{world['on_building']}?lang=en")
        seen[username] = ("楼道灯坏了" in body, "村道积水" in body, page.status_code)
        if page.status_code == 200:
            text = page.get_data(as_text=True)
            assert "Building" in text and "3号楼" in text and "甲一区" in text
        auth.logout()
    assert seen == {"m1": (True, False, 200), "m2": (False, True, 404), "lead": (True, True, 200),
                    "lead2": (False, False, 404)}


def test_place_scope_in_counts_overdue_and_hand_over(db):
    world = _world(db)
    scope = {"cell_ids": [world["a1"]], "user_id": None}
    assert ledger.counts(db, scope, {}, "2026-01-01")["overdue"] == 1
    assert [r["id"] for r in ledger.listing(db, scope, {"cell": world["a1"]}, "2026-01-01")] == [world["on_building"]]
    late = ledger.overdue(db, [world["a1"], world["a2"]], "2026-01-01")
    assert {(r["id"], r["address"], r["cell_id"]) for r in late} == {
        (world["on_building"], "3号楼", world["a1"]), (world["on_cell"], "甲二区", world["a2"])}
    assert [g["id"] for g in ledger.overdue_groups(db, [world["b1"]], "2026-01-01", "cell")] == []
    assert ledger.hand_over(db, world["a2"], world["lead"], world["m2"], user_id=world["lead"],
                            at="2026-01-01T00:00:00Z") == 1
    assert database.scalar(db, "SELECT responsible_user_id FROM requests WHERE id = ?", [world["on_cell"]]) == world["m2"]
