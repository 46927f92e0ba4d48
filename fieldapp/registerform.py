"""A register change as a member sends it, from a form or in the phone's sync batch: its fields and limits, its
checks, its fingerprint, and how a form's fields become changes. The register views, the visit form, the sync
API and its OpenAPI description all read them from here (the records themselves: data/register.py).

On the wire a change is {uuid, kind, household_id, resident_id, field, before, after, reason, made_at, day,
moved_to, person}: before is the value the page showed (a phone number as the page masked it), after the value
asked for; person (resident_added) is {name, phone, birth_year, relation, tags}.
"""
import hashlib
import json
import re
import uuid as uuidlib
from datetime import date, timedelta

from flask_babel import gettext as _

from fieldapp import access, inputs, rules
from fieldapp.data import households
from fieldapp.data import register

MAX_REASON = 200
MAX_NAME = 50
MAX_PLACE = 200  # where a resident moved to; a village house's name
MAX_ROOM = 20
FIRST_BIRTH_YEAR = 1900
FIRST_DAY = rules.EARLIEST_DAY  # a resident's end is not dated before the records
MAX_CHANGES = 100  # changes in one sync batch, with those inside its visits
FUTURE_SLACK = timedelta(minutes=5)
OLDEST = timedelta(days=30)  # as long as a phone may hold a visit offline
# The kinds a form or a phone may send (household_added comes from its own form, or as its own kind here).
SENT_KINDS = register.KINDS
RELATIONS = ("head", "spouse", "child", "parent", "grandchild", "sibling", "other")
STATUSES = ("moved_out", "deceased")  # a resident's end; "" lives here
RETIRE_REASONS = ("demolished", "merged", "other")
CORRECTABLE = ("name", "phone", "birth_year", "relation")  # what the forms correct (gender: the import's)
WIRE_FIELDS = ("uuid", "kind", "household_id", "resident_id", "field", "before", "after", "reason", "made_at", "day",
               "moved_to", "person", "household")
# A Chinese mobile (1, then 3-9, then 9 digits) or a landline: 0 and a 2-3 digit area code, 7-8 digits.
MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"(0\d{2,3})-?(\d{7,8})")


def normal_phone(raw):
    """The phone number in raw, stored form (13812341234, 0571-88001234), or None if it is neither kind."""
    text = re.sub(r"[\s()（）]", "", str(raw or ""))
    if text.startswith("+86"):
        text = text[3:]
    if MOBILE.fullmatch(text.replace("-", "")):
        return text.replace("-", "")
    found = LANDLINE.fullmatch(text)
    if not found:
        return None
    if "-" not in text:
        # 010 and 02x are the three-digit area codes; every other one has four.
        digits = text
        area = digits[:3] if digits[:2] in ("01", "02") else digits[:4]
        number = digits[len(area):]
        if not 7 <= len(number) <= 8:
            return None
        return f"{area}-{number}"
    return f"{found.group(1)}-{found.group(2)}"


def payload_digest(raw):
    """A fingerprint of what was sent for one change (not of when): a resend must match it."""
    sent = {key: raw.get(key) for key in WIRE_FIELDS if key != "made_at" and raw.get(key) not in (None, "", [])}
    return hashlib.sha256(json.dumps(sent, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _uuid(raw, errors):
    try:
        return str(uuidlib.UUID(str(raw.get("uuid") or "")))
    except ValueError:
        errors["uuid"] = _("The change has no valid id; reload the form.")
        return None


def _record_id(value):
    """A record id from JSON (an int) or form text, or None."""
    if type(value) is int:
        return value if 0 < value <= inputs.MAX_INTEGER else None
    return inputs.record_id(value) if isinstance(value, str) else None


def _stripped(value, limit):
    """Stripped text from value (None when not text or empty), cut to nothing beyond limit + 1 for the check."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text[:limit + 1] or None


def _reason(raw, errors):
    reason = _stripped(raw.get("reason"), MAX_REASON)
    if not reason:
        errors["reason"] = _("Say why, in a few words.")
    elif len(reason) > MAX_REASON:
        errors["reason"] = _("At most %(n)d characters.", n=MAX_REASON)
    return reason


def _made_at(raw, now, errors):
    """The device time of the change (now when not given), within the span a phone may hold it."""
    if not raw.get("made_at"):
        return now
    try:
        made_at = rules.parse_iso(str(raw["made_at"])).replace(microsecond=0)
    except (ValueError, OverflowError):
        errors["made_at"] = _("The time of the change is not a valid date and time.")
        return now
    if made_at > now + FUTURE_SLACK:
        errors["made_at"] = _("The time of the change lies in the future; check the phone's clock.")
        return now
    if made_at < now - OLDEST:
        errors["made_at"] = _("The change was made more than 30 days ago.")
        return now
    return made_at


def check_name(value, errors, key="name"):
    name = _stripped(value, MAX_NAME)
    if not name:
        errors[key] = _("Give the resident's name.")
    elif len(name) > MAX_NAME:
        errors[key] = _("At most %(n)d characters.", n=MAX_NAME)
    return name


def check_phone(value, errors, key="phone"):
    """A phone number in stored form, None when empty; errors[key] when it is not a Chinese number."""
    text = _stripped(value, 40)
    if not text:
        return None
    phone = normal_phone(text)
    if phone is None:
        errors[key] = _("Give a mobile number (11 digits, 13… to 19…) or a landline with its area code "
                        "(e.g. 0571-88001234).")
    return phone


def check_birth_year(value, errors, today, key="birth_year"):
    if value is None or value == "":
        return None
    year = value if type(value) is int else inputs.whole_number(str(value) if isinstance(value, str) else "", 0, 9999)
    if year is None or not FIRST_BIRTH_YEAR <= year <= today.year:
        errors[key] = _("Give a year of birth from %(first)d to %(last)d.", first=FIRST_BIRTH_YEAR, last=today.year)
        return None
    return year


def check_relation(value, errors, key="relation"):
    relation = _stripped(value, 20)
    if relation and relation not in RELATIONS:
        errors[key] = _("Choose a relation from the list.")
    return relation


def check_tags(codes, known, errors, key="tag"):
    """The tag codes among codes (each known, each once); errors[key] names an unknown one."""
    found = []
    for code in codes:
        if not isinstance(code, str) or code not in known:
            errors[key] = _("There is no such tag.")
        elif code not in found:
            found.append(code)
    return found


def check_day(value, errors, today, key="day"):
    """The day a resident left: from FIRST_DAY to today."""
    try:
        day = date.fromisoformat(str(value or "").strip()) if value else None
    except ValueError:
        day = False
    if not day:
        errors[key] = _("Give the day (YYYY-MM-DD).") if day is None else _("Give a date as YYYY-MM-DD.")
        return None
    if day > today:
        errors[key] = _("The day lies in the future.")
    elif day < FIRST_DAY:
        errors[key] = _("Give a day from %(first)s on.", first=FIRST_DAY.isoformat())
    return day.isoformat()


def _seen_phone(before, current):
    """The phone's before as the page showed it (masked): the full number when it masks to the same, so that the
    register compares what the phone saw with what the server holds."""
    if isinstance(before, str) and "*" in before and current and rules.mask_phone(current) == before:
        return current
    return before


def check_change(db, user, raw, *, now, clock, household=None):
    """Check one change as sent. household: the visit's (the change must be of it). Returns (change for
    data/register.record_in, its HTTP status when refused, errors by field)."""
    errors = {}
    if not isinstance(raw, dict):
        return None, 422, {"change": _("Each change must be an object.")}
    uuid = _uuid(raw, errors)
    kind = raw.get("kind")
    if kind not in SENT_KINDS:
        errors["kind"] = _("Unknown kind of change.")
        return None, 422, errors
    if kind == "household_added":
        errors["kind"] = _("A household is added from its own form.")
        return None, 422, errors
    household_id = _record_id(raw.get("household_id"))
    if household is not None and raw.get("household_id") is None:
        household_id = household["id"]
    if household is not None and household_id != household["id"]:
        return None, 404, {"household_id": _("A change made in a visit belongs to the visited household.")}
    found = households.get(db, household_id) if household_id else None
    if found is None or not access.may_see_cell(db, user, found["cell_id"]):
        return None, 404, {"household_id": _("No such household among yours.")}
    if found["retired_at"]:
        return None, 409, {"household_id": _("This household was retired; nothing can change in it.")}
    resident = None
    if kind in register.RESIDENT_KINDS:
        resident_id = _record_id(raw.get("resident_id"))
        resident = next((r for r in register.residents(db, household_id) if r["id"] == resident_id), None)
        if resident is None:
            return None, 404, {"resident_id": _("No such resident in this household.")}
    reason = _reason(raw, errors)
    made_at = _made_at(raw, now, errors)
    today = date.fromisoformat(clock["today"])
    day = register.day_of(rules.iso(made_at), clock)
    change = {"uuid": uuid, "household_id": household_id, "resident_id": resident["id"] if resident else None,
              "visit_id": None, "user_id": user.id, "made_at": rules.iso(made_at), "received_at": rules.iso(now),
              "day": day, "kind": kind, "field": None, "before": None, "after": None, "reason": reason,
              "payload_sha256": payload_digest(raw)}
    known_tags = {t["code"] for t in register.tags(db)}
    if kind == "resident_added":
        person = raw.get("person") if isinstance(raw.get("person"), dict) else {}
        codes = person.get("tags") if isinstance(person.get("tags"), list) else []
        change["person"] = {"name": check_name(person.get("name"), errors),
                            "phone": check_phone(person.get("phone"), errors),
                            "birth_year": check_birth_year(person.get("birth_year"), errors, today),
                            "relation": check_relation(person.get("relation"), errors),
                            "tags": check_tags(codes, known_tags, errors)}
    elif kind == "resident_corrected":
        field = raw.get("field")
        if field not in CORRECTABLE:
            errors["field"] = _("This field cannot be corrected here.")
            return None, 422, errors
        checks = {"name": check_name, "phone": check_phone, "relation": check_relation,
                  "birth_year": lambda value, errs, key: check_birth_year(value, errs, today, key)}
        after = checks[field](raw.get("after"), errors, field)
        before = _stripped(raw.get("before"), 200)
        if field == "phone":
            before = _seen_phone(before, resident["phone"])
        change.update(field=field, before=before, after=None if after is None else str(after))
    elif kind in ("tag_added", "tag_ended"):
        code = raw.get("after") if kind == "tag_added" else raw.get("before")
        check_tags([code], known_tags, errors)
        change.update(field="tag", after=code if kind == "tag_added" else None,
                      before=code if kind == "tag_ended" else None)
    elif kind == "resident_left":
        status = raw.get("after")
        if status not in STATUSES:
            errors["status"] = _("Choose moved out or deceased.")
        change.update(field="status", after=status, day=check_day(raw.get("day"), errors, today))
        moved_to = _stripped(raw.get("moved_to"), MAX_PLACE)
        if moved_to and len(moved_to) > MAX_PLACE:
            errors["moved_to"] = _("At most %(n)d characters.", n=MAX_PLACE)
        change["moved_to"] = moved_to if status == "moved_out" else None
    elif kind in ("household_vacant", "household_occupied"):
        after = raw.get("after") or ("occupied" if kind == "household_occupied" else "vacant")
        allowed = ("occupied",) if kind == "household_occupied" else ("vacant", "moved_out")
        if after not in allowed:
            errors["occupancy"] = _("Choose vacant or occupied.")
        change.update(field="occupancy", before=_stripped(raw.get("before"), 20) or found["occupancy"], after=after)
    elif kind == "household_retired":
        if raw.get("after") not in RETIRE_REASONS:
            errors["retired"] = _("Choose why the household no longer exists.")
        change.update(field="retired", after=raw.get("after"))
    if errors:
        return None, 422, errors
    return change, None, {}


def check_new_household(db, user, form, *, now, clock, scope):
    """Check the form of a household found at the door. Returns (household row, change, errors by field)."""
    errors = {}
    uuid = _uuid(form, errors)
    reason = _reason(form, errors)
    cell_id = inputs.record_id(form.get("cell_id") or "")
    cells = {c["id"]: c for c in register.cells_named(db, scope)}
    if cell_id not in cells:
        errors["cell_id"] = _("Choose one of your cells.")
    household = {"cell_id": cell_id, "building_id": None, "unit": None, "room": None, "lon": None, "lat": None}
    if form.get("place") == "house":
        house = _stripped(form.get("house"), MAX_PLACE)
        if not house:
            errors["house"] = _("Give the house's number or name.")
        elif len(house) > MAX_PLACE:
            errors["house"] = _("At most %(n)d characters.", n=MAX_PLACE)
        try:
            lat, lon = float(form.get("lat") or "x"), float(form.get("lon") or "x")
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError
            household.update(lat=lat, lon=lon)
        except ValueError:
            errors["location"] = _("Take the phone's position at the house (or type its latitude and longitude).")
        if cell_id in cells and house:
            household["address"] = f"{cells[cell_id]['name']} {house}"
    else:
        building = register.building(db, inputs.record_id(form.get("building_id") or ""))
        if building is None or building["cell_id"] != cell_id:
            errors["building_id"] = _("Choose a building of this cell.")
        unit = _stripped(form.get("unit"), MAX_ROOM)
        room = _stripped(form.get("room"), MAX_ROOM)
        if unit and len(unit) > MAX_ROOM:
            errors["unit"] = _("At most %(n)d characters.", n=MAX_ROOM)
        if not room:
            errors["room"] = _("Give the room.")
        elif len(room) > MAX_ROOM:
            errors["room"] = _("At most %(n)d characters.", n=MAX_ROOM)
        elif building and not errors.get("building_id") and register.room_taken(db, building["id"], unit, room):
            errors["room"] = _("This room already exists in the building.")
        if building:
            # Written as the register writes addresses, whatever the member's language.
            household.update(building_id=building["id"], unit=unit, room=room, address=" ".join(
                part for part in (building["name"], f"{unit}单元" if unit else None, f"{room}室" if room else None)
                if part))
    change = {"uuid": uuid, "resident_id": None, "visit_id": None, "user_id": user.id, "made_at": rules.iso(now),
              "received_at": rules.iso(now), "day": clock["today"], "kind": "household_added", "field": None,
              "before": None, "reason": reason, "payload_sha256": payload_digest({
                  key: form.get(key) for key in ("uuid", "cell_id", "place", "building_id", "unit", "room", "house",
                                                 "lat", "lon", "reason")})}
    return household, change, errors


# --- A form's fields as changes ----------------------------------------------------------------------------

def derived_uuid(form_uuid, part):
    """The id of one change made by a form (its uuid, the change's part): a double submit repeats it."""
    try:
        namespace = uuidlib.UUID(str(form_uuid or ""))
    except ValueError:
        return ""  # refused as "no valid id" with the change
    return str(uuidlib.uuid5(namespace, part))


def form_change_uuids(form):
    """The ids every change a form's fields could have made carry (derived_uuid), whether or not it differs now:
    a resend of a form whose changes were saved (a resident who then left is no longer in it) finds them."""
    parts = set()
    for key in form.keys():
        found = re.match(r"^(r\d+_|nr_)(.+)$", key)
        if not found:
            continue
        prefix, name = found.groups()
        if prefix == "nr_":
            parts.add("nr_resident_added")
        elif name in CORRECTABLE:
            parts.add(f"{prefix}{name}")
        elif name == "status":
            parts.add(f"{prefix}resident_left")
        elif name in ("tags_add", "tags_end"):
            kind = "tag_added" if name == "tags_add" else "tag_ended"
            parts.update(f"{prefix}{kind}:{code}" for code in form.getlist(key))
    return {derived_uuid(form.get("uuid"), part) for part in parts} - {""}


def resident_changes(form, prefix, resident, *, form_uuid, household_id):
    """The changes (wire form) that an "Edit resident" block of a form asks for: each field that differs from
    the value the page showed (its before_ field), each tag added or ended, the resident's end."""
    get = (lambda name: form.get(prefix + name, ""))
    reason = get("reason")
    base = {"household_id": household_id, "resident_id": resident["id"], "reason": reason,
            "made_at": form.get("made_at") or form.get("visited_at") or None}
    found = []
    for field in CORRECTABLE:
        value, before = get(field).strip(), get("before_" + field).strip()
        if field == "phone" and not value:
            continue  # the page shows no number to edit: empty keeps it
        if value != before:
            found.append({**base, "uuid": derived_uuid(form_uuid, f"{prefix}{field}"), "kind": "resident_corrected",
                          "field": field, "before": before or None, "after": value or None})
    for code in form.getlist(prefix + "tags_add"):
        found.append({**base, "uuid": derived_uuid(form_uuid, f"{prefix}tag_added:{code}"), "kind": "tag_added",
                      "field": "tag", "after": code})
    for code in form.getlist(prefix + "tags_end"):
        found.append({**base, "uuid": derived_uuid(form_uuid, f"{prefix}tag_ended:{code}"), "kind": "tag_ended",
                      "field": "tag", "before": code})
    if get("status"):
        found.append({**base, "uuid": derived_uuid(form_uuid, f"{prefix}resident_left"), "kind": "resident_left",
                      "field": "status", "after": get("status"), "day": get("left_on"), "moved_to": get("moved_to")})
    return found


def new_resident_change(form, prefix, *, form_uuid, household_id):
    """The change resident_added that an "Add resident" block asks for, or None when it was left empty."""
    get = (lambda name: form.get(prefix + name, "").strip())
    if not any((get("name"), get("phone"), get("birth_year"), get("relation"), form.getlist(prefix + "tags"))):
        return None
    return {"uuid": derived_uuid(form_uuid, f"{prefix}resident_added"), "kind": "resident_added",
            "household_id": household_id, "reason": form.get(prefix + "reason", ""),
            "made_at": form.get("made_at") or form.get("visited_at") or None,
            "person": {"name": get("name"), "phone": get("phone"), "birth_year": get("birth_year"),
                       "relation": get("relation"), "tags": form.getlist(prefix + "tags")}}


def form_key(prefix, field):
    """The form field at which an error of a change's field is shown."""
    field = {"tag": "tags", "status": "status", "day": "left_on", "person": "name"}.get(field, field)
    return prefix + field


def check_form_changes(db, user, raw_changes, prefix, *, now, clock, household):
    """Check the changes one form block asked for. Returns (changes, errors at the block's form fields)."""
    changes, errors = [], {}
    for raw in raw_changes:
        change, _status, found = check_change(db, user, raw, now=now, clock=clock, household=household)
        for field, message in found.items():
            key = form_key(prefix, field)
            if raw["kind"] == "tag_added" and field == "tag":
                key = prefix + "tags_add"
            elif raw["kind"] == "tag_ended" and field == "tag":
                key = prefix + "tags_end"
            errors.setdefault(key, message)
        if change:
            changes.append(change)
    return changes, errors


def visit_form_changes(db, user, form, *, now, clock, household, residents):
    """The register changes of a visit form's "Residents" part (no JavaScript: its fields are the form's).
    Returns (changes, errors at their form fields)."""
    changes, errors = [], {}
    form_uuid = form.get("uuid")
    for resident in residents:
        prefix = f"r{resident['id']}_"
        raw = resident_changes(form, prefix, resident, form_uuid=form_uuid, household_id=household["id"])
        found, wrong = check_form_changes(db, user, raw, prefix, now=now, clock=clock, household=household)
        changes += found
        errors.update(wrong)
    new = new_resident_change(form, "nr_", form_uuid=form_uuid, household_id=household["id"])
    if new:
        found, wrong = check_form_changes(db, user, [new], "nr_", now=now, clock=clock, household=household)
        changes += found
        errors.update(wrong)
    return changes, errors

