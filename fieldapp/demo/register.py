"""The demo's register changes, as data/register.py records them: one append-only record for each change that
people.py planned, made at the visit that learnt it, applied; and where a leader had changed a phone number in the
office meanwhile, the leader's change, applied, and the member's, kept as a conflict with the server's value,
waiting for review or applied or kept by the leader (with the review's event, see review.py)."""
import json
from datetime import timedelta

from fieldapp.demo.history import uuid4
from fieldapp.demo.review import office_time
from fieldapp.demo.words import CHANGE_REASONS

COLUMNS = ("id", "uuid", "household_id", "resident_id", "visit_id", "user_id", "made_at", "received_at", "kind",
           "field", "before", "after", "server_value", "reason", "state", "resolves_id")


def changes(rng, learnt, residents, sensitive, today, first_id):
    """The register changes (rows in id order, ids from first_id) and the reviews they call for: (change id, action,
    leader id, at) for review.change_events. Sets the created_at of residents added at the door and the phone
    number of a resident whose conflicting change a leader applied (rows of residents)."""
    made = []  # (received_at, order, row), sorted into id order below
    decided = []
    for visit_id, change, home, user_id, visited_at, received_at, received_ago in learnt:
        who = change["who"]
        row = {"uuid": uuid4(rng), "household_id": home["id"], "resident_id": who["id"], "visit_id": visit_id,
               "user_id": user_id, "made_at": visited_at, "received_at": received_at, "kind": change["kind"],
               "field": change["field"], "before": change["before"], "after": change["after"], "server_value": None,
               "reason": change["reason"], "state": "applied", "resolves_id": None}
        if change["kind"] == "resident_added":
            row["after"] = json.dumps(change["person"], ensure_ascii=False)
            residents[who["row"]] = residents[who["row"]][:-1] + (received_at,)
        elif change["kind"] == "resident_left" and change["moved_to"]:
            row["after"] = json.dumps({"status": change["after"], "day": _day(today, change["day"]),
                                       "moved_to": change["moved_to"]}, ensure_ascii=False)
        leader = home["cell"]["leader"]
        if "server" in change:  # the leader's change, the day before, from a resident's call
            at = office_time(rng, today, received_ago + 1)
            made.append((at, len(made), {**row, "uuid": uuid4(rng), "visit_id": None, "user_id": leader, "made_at": at,
                                         "received_at": at, "after": change["server"],
                                         "reason": CHANGE_REASONS["phone_by_leader"][0]}))
            row.update(server_value=change["server"], state="conflict")
        made.append((received_at, len(made), row))
        resolution = change.get("resolution")
        if resolution and received_ago > 1:
            at = office_time(rng, today, received_ago - 1)
            decided.append((row, resolution, leader, at))
            if resolution == "apply":  # resolve(): a new applied change that names the conflict
                made.append((at, len(made), {**row, "uuid": row["uuid"] + "/applied", "user_id": leader, "made_at": at,
                                             "received_at": at, "before": change["server"], "server_value": None,
                                             "state": "applied", "resolves_id": row}))
                residents[who["row"]] = _with_phone(residents[who["row"]], change["after"])
        elif _sensitive(change, sensitive) and received_ago > 2 and rng.random() < 0.6:
            decided.append((row, "accept", leader, office_time(rng, today, received_ago - rng.randint(1, 2))))
    made.sort(key=lambda entry: entry[:2])
    for change_id, (_at, _order, row) in enumerate(made, start=first_id):
        row["id"] = change_id
    for _at, _order, row in made:
        if row["resolves_id"]:
            row["resolves_id"] = row["resolves_id"]["id"]
    rows = [tuple(row[key] for key in COLUMNS) for _at, _order, row in made]
    return rows, [(row["id"], action, leader, at) for row, action, leader, at in decided]


def _sensitive(change, sensitive):
    """Whether a leader reviews a change though nothing conflicted: a death, a sensitive tag started or ended."""
    if change["kind"] == "resident_left":
        return change["after"] == "deceased"
    return change["field"] == "tag" and (change["after"] or change["before"]) in sensitive


def _day(today, days_ago):
    """The local day days_ago days before today."""
    return (today - timedelta(days=days_ago)).isoformat()


def _with_phone(resident, phone):
    """A resident's row with another phone number (its fourth field)."""
    return resident[:3] + (phone,) + resident[4:]
