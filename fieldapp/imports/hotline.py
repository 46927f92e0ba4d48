"""Hotline work orders from the entry form or a batch file (CSV or .xlsx), checked alike: each order's number,
received time, deadline, source, category (ours, or mapped from the hotline's own), description and address.

check_order() words nothing: it returns problem codes (fieldapp.imports.problems words them) by field. preview()
reads a file into a report like the other imports' (counts, row-level errors, the planned orders); commit()
writes all the orders or none.
"""
import re
from datetime import datetime, time, timedelta

from flask_babel import lazy_gettext as _l

from fieldapp import rules
from fieldapp.data import hotline
from fieldapp.imports import readers
from fieldapp.imports.plan import new_report
from fieldapp.imports.problems import Refused, at, problem

KIND = "hotline"
FORMATS = ("csv", "xlsx")
MAX_TEXT = 2000
MAX_SHORT = 40
MAX_ORDERS = 2000  # one batch; the hotline sends a community a day's or a week's orders
ORDER_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_/]*$")
FIELDS = ("order_no", "received_at", "deadline", "source", "original_category", "category", "description",
          "building", "unit", "room")
ALIASES = {readers.normalise_header(alias): canonical for canonical, names in {
    "order_no": ("order", "工单编号", "工单号", "编号"), "received_at": ("received", "受理时间", "来电时间", "派单时间"),
    "deadline": ("办理时限", "截止时间", "办结时限", "期限"), "source": ("来源", "渠道"),
    "original_category": ("hotline_category", "原始类别", "诉求类别", "工单类别"), "category": ("类别", "分类"),
    "description": ("诉求内容", "内容", "描述", "问题描述"), "building": ("楼栋", "楼号"), "unit": ("单元",),
    "room": ("室", "房号", "门牌号")}.items() for alias in (canonical, *names)}
REQUIRED = ("order_no", "received_at", "deadline", "description", "building")  # no unit, no room: the building's
# The hotline's usual categories and ours: an order's own category, when it holds one of these words.
HOTLINE_CATEGORIES = (("就业", "employment"), ("劳动", "employment"), ("医疗", "medical"), ("卫生健康", "medical"),
                      ("养老", "elderly_care"), ("住房", "housing"), ("房屋", "housing"), ("物业", "housing"),
                      ("市容", "sanitation"), ("环境", "sanitation"), ("垃圾", "sanitation"), ("治安", "public_security"),
                      ("安全", "public_security"), ("纠纷", "dispute"), ("邻里", "dispute"), ("咨询", "policy"),
                      ("政策", "policy"))
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M:%S",
                "%Y/%m/%d %H:%M", "%Y%m%d%H%M%S")
DAY_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")


def parse_time(text, tz, end_of_day=False):
    """A local date and time as an order writes it, as an aware datetime; a day alone is its start (or its end,
    for a deadline). None when text is no such time."""
    text = (text or "").strip().replace("年", "-").replace("月", "-").replace("日", " ").strip()
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=tz)
        except ValueError:
            pass
    for pattern in DAY_FORMATS:
        try:
            day = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        return datetime.combine(day, time(23, 59, 59) if end_of_day else time(0), tz)
    return None


def category_of(category, original, categories):
    """Our category code for an order: its category column as our code or label, else mapped from the hotline's
    own category; None when neither says."""
    labels = {c["label"]: c["code"] for c in categories}
    codes = {c["code"] for c in categories}
    given = (category or "").strip()
    if given:
        return given if given in codes else labels.get(given)
    text = (original or "").strip()
    if text in labels:
        return labels[text]
    return next((code for word, code in HOTLINE_CATEGORIES if word in text), None)


def check_order(values, *, categories, tz, now):
    """Check one order's values (the form's fields or a row's columns). Returns (order, problems by field); the
    order's times are UTC timestamps and its due date the deadline's local day."""
    found, errors = {key: (values.get(key) or "").strip() for key in FIELDS}, {}
    for key in REQUIRED:
        if not found[key]:
            errors[key] = problem("required")
    for key, limit in (("order_no", MAX_SHORT), ("source", MAX_SHORT), ("original_category", MAX_SHORT),
                       ("building", MAX_SHORT * 2), ("unit", MAX_SHORT), ("room", MAX_SHORT),
                       ("description", MAX_TEXT)):
        if len(found[key]) > limit:
            errors[key] = problem("too_long", n=limit)
    if found["order_no"] and "order_no" not in errors and not ORDER_NO.match(found["order_no"]):
        errors["order_no"] = problem("order_no", value=found["order_no"][:MAX_SHORT], n=MAX_SHORT)
    received = parse_time(found["received_at"], tz) if found["received_at"] else None
    deadline = parse_time(found["deadline"], tz, end_of_day=True) if found["deadline"] else None
    for key, moment in (("received_at", received), ("deadline", deadline)):
        if found[key] and moment is None:
            errors[key] = problem("bad_time", value=found[key][:MAX_SHORT])
    if received and received > now + timedelta(minutes=10):  # a clock a little ahead is no future order
        errors["received_at"] = problem("future_time", value=found["received_at"])
    if received and deadline and deadline < received:
        errors["deadline"] = problem("deadline_before", value=found["deadline"])
    elif received and deadline and deadline > received + timedelta(days=366):
        errors["deadline"] = problem("deadline_far", value=found["deadline"])
    category = category_of(found["category"], found["original_category"], categories)
    if category is None:
        shown = found["category"] or found["original_category"]
        errors["category"] = problem("unknown_category", value=shown[:MAX_SHORT],
                                     known="、".join(c["label"] for c in categories)) if shown else problem("required")
    order = {"order_no": found["order_no"], "source": found["source"] or "12345",
             "original_category": found["original_category"] or None, "category": category,
             "description": found["description"], "address": (found["building"], found["unit"], found["room"]),
             "received_at": rules.iso(received) if received else None,
             "deadline": rules.iso(deadline) if deadline else None,
             "due_date": deadline.date().isoformat() if deadline else None}
    return order, errors


# Why an order's address names no household of the register, as a problem's code.
UNPLACED = {"unknown_building": "hotline_no_building", "ambiguous_building": "hotline_ambiguous_building",
            "unknown_household": "hotline_no_household"}


def place(db, cell_ids, orders):
    """Find each order's household in cell_ids; return {index: problem at field} for those found nowhere."""
    matched = hotline.match_addresses(db, cell_ids, [order["address"] for order in orders])
    missing = {}
    for index, order in enumerate(orders):
        home = matched[order["address"]]
        building, unit, room = order["address"]
        if isinstance(home, dict):
            order.update(household_id=home["id"], building_id=home["building_id"], cell_id=home["cell_id"],
                         household_address=home["address"])
        else:
            field = "room" if home == "unknown_household" else "building"
            shown = building if field == "building" else " ".join(part for part in (building, unit, room) if part)
            missing[index] = (field, problem(UNPLACED[home], value=shown))
    return missing


def preview(db, content, filename, *, cell_ids, categories, tz, now):
    """Read and check a batch of orders against the register and the ledger (writes nothing): the report the
    preview page shows, its "orders" the plan that commit() writes."""
    report = new_report(KIND, filename, "wgs84")
    report["orders"] = []
    try:
        fmt = readers.detect_format(content, filename)
        if fmt not in FORMATS:
            raise Refused(problem("wrong_format", kind=_l("Hotline work orders"), actual=fmt,
                                  allowed=" / ".join(FORMATS)))
        if fmt == "csv":
            records, columns, notes = readers.read_csv(content, ALIASES)
        else:
            records, columns, _extras, notes = readers.read_xlsx(content, ALIASES)
        for column in REQUIRED:
            if column not in columns:
                raise Refused(problem("missing_column", column=column))
    except Refused as refusal:
        report["errors"].append(refusal.problem)
        return report
    report["format"], report["notes"] = fmt, notes
    wanted = []
    for record in records:
        if record.get("skip"):
            report["skipped"].append(at(record, record["skip"]))
        else:
            wanted.append(record)
    if not wanted:
        report["errors"].append(problem("no_records"))
        return report
    if len(wanted) > MAX_ORDERS:
        report["errors"].append(problem("xlsx_rows", sheet=filename, limit=f"{MAX_ORDERS:,}"))
        return report
    checked, first = [], {}
    for record in wanted:
        order, errors = check_order(record["values"], categories=categories, tz=tz, now=now)
        number = order["order_no"]
        if number and "order_no" not in errors:
            if number in first:
                errors["order_no"] = problem("duplicate", value=number, first=first[number])
            first.setdefault(number, {"where": "row", "n": record["n"], "sheet": record.get("sheet")})
        checked.append((record, order, errors))
    known = hotline.existing_order_numbers(db, {o["order_no"] for _r, o, e in checked if "order_no" not in e})
    missing = place(db, cell_ids, [order for _r, order, _e in checked])
    for index, (record, order, errors) in enumerate(checked):
        if order["order_no"] in known and "order_no" not in errors:
            errors["order_no"] = problem("order_exists", value=order["order_no"], request=known[order["order_no"]])
        if index in missing and "building" not in errors and "room" not in errors:
            field, found = missing[index]
            errors[field] = found
        for field, found in errors.items():
            report["errors"].append({**found, "where": "row", "n": record["n"], "sheet": record.get("sheet"),
                                     "field": columns.get(field, field)})
        if not errors:
            report["orders"].append({**order, "uuid": hotline.new_uuid(), "n": record["n"]})
    report["add"] = len(report["orders"])
    if report["errors"]:
        report["orders"] = []
    return report


def commit(db, report, *, user_id, at):
    """Write a preview's orders in one transaction; refuse (return None) when it has errors. Returns the request
    ids."""
    if report["errors"] or not report["orders"]:
        return None
    return [request_id for _created, request_id in hotline.take_over(db, report["orders"], user_id=user_id, at=at)]
