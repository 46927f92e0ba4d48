"""12345 hotline work orders (市民热线工单) taken over into the ledger: each order a request with channel 'hotline',
its number, received time and its own deadline (the request's due date is the deadline's day); the households an
order's address names; and the replies to send back per order number."""
import uuid as uuidlib

from fieldapp import rules
from fieldapp.data import ledger, places
from fieldapp.data import status as status_sql
from fieldapp.data.coverage import cells_clause
from fieldapp.data.db import in_clause, insert, one, rows, scalar, write

MAX_ORDER_NO = 40


def unit_key(text):
    """A unit as the register and an order may both write it: "2", "2单元" and " 2 " alike."""
    return (text or "").strip().removesuffix("单元").strip()


def room_key(text):
    """A room as the register and an order may both write it: "301", "301室" and "301号" alike."""
    return (text or "").strip().removesuffix("室").removesuffix("号").strip()


def match_addresses(db, cell_ids, addresses):
    """The households of cell_ids (None: all) that addresses name, each (building, unit, room) as an order writes
    it; the building by its name or its id in the register.

    An address without unit and room is the building's own (a broken stair light): it matches the building.
    Returns {address: household dict ({"id": None, "building_id", ...} for a building's own), or the reason it
    matches none: "unknown_building", "ambiguous_building", "unknown_household"}.
    """
    params = {}
    found = rows(db, "SELECT id, external_id, name, cell_id FROM buildings b "
                     f"WHERE {cells_clause(cell_ids, params, column='b.cell_id')}", params)
    by_name = {}
    for building in found:
        for key in {building["name"].strip(), building["external_id"].strip()}:
            by_name.setdefault(key, []).append(building)
    wanted = {}
    result = {}
    for address in addresses:
        named = by_name.get(address[0].strip(), [])
        if not named:
            result[address] = "unknown_building"
        elif len(named) > 1:
            result[address] = "ambiguous_building"
        elif not unit_key(address[1]) and not room_key(address[2]):
            building = named[0]
            result[address] = {"id": None, "building_id": building["id"], "unit": None, "room": None,
                               "address": building["name"], "cell_id": building["cell_id"]}
        else:
            wanted.setdefault(named[0]["id"], []).append(address)
    if wanted:
        params = {}
        homes = rows(db, "SELECT h.id, h.building_id, h.unit, h.room, h.address, h.cell_id FROM households h "
                         f"WHERE {in_clause('h.building_id', list(wanted), params, 'building')} "
                         f"AND {status_sql.IN_REGISTER}", params)
        by_place = {(h["building_id"], unit_key(h["unit"]), room_key(h["room"])): h for h in homes}
        for building_id, named in wanted.items():
            for address in named:
                home = by_place.get((building_id, unit_key(address[1]), room_key(address[2])))
                result[address] = home if home else "unknown_household"
    return result


def existing_order_numbers(db, numbers):
    """{order number: request id} of those of numbers already in the ledger."""
    if not numbers:
        return {}
    params = {}
    where = in_clause("order_no", list(numbers), params, "order")
    return {r["order_no"]: r["request_id"]
            for r in rows(db, f"SELECT order_no, request_id FROM hotline_orders WHERE {where}", params)}


def _responsible(db, cell_id, at):
    """Who answers an order for a household of cell_id: the cell's member at `at` (the first by name), or nobody
    yet (the leader assigns it)."""
    return scalar(db, "SELECT a.user_id FROM assignments a JOIN users u ON u.id = a.user_id "
                      "WHERE a.cell_id = ? AND a.valid_from <= ? AND (a.valid_to IS NULL OR a.valid_to > ?) "
                      "AND u.active = 1 ORDER BY u.display_name, u.id LIMIT 1", [cell_id, at, at])


def take_over(db, orders, *, user_id, at):
    """Enter orders in the ledger, all or none, in one transaction: each a request with its "created" event and its
    order. An order is {uuid, order_no, received_at, deadline, due_date, source, original_category, category,
    description, household_id (None: building_id), cell_id}.

    Returns [(created: bool, request id)] in order; a resent order (same uuid) adds nothing. Raises
    DuplicateOrder when an order number is in the ledger under another request (nothing is written then).
    """
    results = []
    with write(db):
        for order in orders:
            known = one(db, f"SELECT o.request_id, q.uuid FROM hotline_orders o JOIN requests q ON q.id = o.request_id "
                            f"WHERE o.order_no = ?{db.dialect.for_update}", [order["order_no"]])
            if known:
                if known["uuid"] != order["uuid"]:
                    raise DuplicateOrder(order["order_no"], known["request_id"])
                results.append((False, known["request_id"]))
                continue
            created, request_id = ledger.create(
                db, uuid=order["uuid"], household_id=order["household_id"], category=order["category"],
                description=order["description"], responsible_user_id=_responsible(db, order["cell_id"], at),
                due_date=order["due_date"], user_id=user_id, at=at, channel="hotline",
                building_id=order.get("building_id"))
            if created:
                insert(db, "hotline_orders", {
                    "request_id": request_id, "order_no": order["order_no"], "received_at": order["received_at"],
                    "deadline": order["deadline"], "source": order["source"],
                    "original_category": order["original_category"], "created_by": user_id, "created_at": at})
            results.append((created, request_id))
    return results


class DuplicateOrder(Exception):
    """An order number that the ledger holds already, under another request."""

    def __init__(self, order_no, request_id):
        super().__init__(order_no)
        self.order_no, self.request_id = order_no, request_id


def new_uuid():
    """A request's uuid for an order that comes without one (an imported row)."""
    return str(uuidlib.uuid4())


def for_request(db, request_id):
    """The hotline order a request was taken over from, or None."""
    return one(db, "SELECT order_no, received_at, deadline, source, original_category, reply_exported_at "
                   "FROM hotline_orders WHERE request_id = ?", [request_id])


_FROM = (f"FROM hotline_orders o JOIN requests q ON q.id = o.request_id {places.PLACE}"
         f"JOIN cells c ON c.id = {places.CELL} ")
_CELL = places.CELL


def listing(db, cell_ids, limit=200):
    """The orders of cell_ids' requests (None: all), the nearest deadline of the unfinished first."""
    params = {"limit": limit}
    return rows(db, "SELECT o.order_no, o.received_at, o.deadline, o.source, o.reply_exported_at, q.id AS request_id, "
                    f"q.status, q.category, q.due_date, {places.PLACE_NAME} AS address "
                    f"{_FROM}WHERE {cells_clause(cell_ids, params, column=_CELL)} "
                    "ORDER BY CASE WHEN q.status IN ('open', 'in_progress') THEN 0 ELSE 1 END, o.deadline, o.id "
                    "LIMIT :limit", params)


def replies(db, cell_ids):
    """Every order of cell_ids with what the hotline takes back: status, the reply (the resolution, else the last
    partner reply or progress note) and when it was resolved."""
    params = {}
    return rows(db, "SELECT o.id, o.order_no, q.status, q.resolution, "
                    "(SELECT e.note FROM request_events e WHERE e.request_id = q.id AND e.kind IN "
                    "('progress', 'partner_reply') AND e.note IS NOT NULL ORDER BY e.at DESC, e.id DESC LIMIT 1) "
                    "AS last_note, "
                    "(SELECT max(e.at) FROM request_events e WHERE e.request_id = q.id AND e.kind = 'resolved') "
                    f"AS resolved_at {_FROM}WHERE {cells_clause(cell_ids, params, column=_CELL)} "
                    "ORDER BY o.order_no", params)


def mark_exported(db, order_ids, at):
    """Note when the replies of order_ids left for the hotline."""
    if not order_ids:
        return
    with write(db):
        params = {"at": at}
        where = in_clause("id", order_ids, params, "order")
        db.execute(f"UPDATE hotline_orders SET reply_exported_at = :at WHERE {where}", params)


def due_day(deadline, tz=rules.SHANGHAI):
    """A request's due date from its order's deadline (a UTC timestamp): the deadline's local day."""
    return rules.local_date(deadline, tz).isoformat()
