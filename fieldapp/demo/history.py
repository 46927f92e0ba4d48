"""The demo's history: 90 days of visits, and the requests raised on them taken through the ledger."""
import json
import math
from datetime import timedelta
from operator import itemgetter

from fieldapp import rules
from fieldapp.demo.words import (CATEGORY_WEIGHTS, NO_LOCATION_REASONS, NOBODY_HOME_NOTES, PROGRESS_NOTES,
                                 REFERRAL_LABELS, REQUEST_TEXTS, VISIT_NOTES)

HISTORY_DAYS = 90
LAST_SECOND = 57_599  # 15:59:59 UTC is 23:59:59 in Shanghai: nothing is received after the visit's day
UUID4_MASK = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits of a UUID
UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)


def visits(rng, homes, today, first_id):
    """90 days of visits, sorted by time, and the visits (by id) in which a request was raised."""
    # A million visits at full size: format each day and each time of day once, draw with random().
    prefixes = [(today - timedelta(days=d)).isoformat() + "T" for d in range(HISTORY_DAYS + 1)]
    clocks = [_clock(second) for second in range(LAST_SECOND + 1)]
    draw = rng.random
    visits, raised = [], []
    for home in homes:
        members = home["cell"]["members"]
        plan = home["plan"]
        if plan is None and home["occupancy"] == "occupied" and draw() < 0.08:
            plan = "request"
        days, outcomes = _visit_days(rng, home, plan)
        raise_at = _raising_visit(rng, days, plan)
        if raise_at is not None:
            outcomes[raise_at] = "met"
        lon0, lat0 = home["point"]
        metres_lon = 111_320 * math.cos(math.radians(lat0))
        people = home["residents"]
        met_lists = [json.dumps(people[:size]) for size in range(1, len(people) + 1)]
        home["last_visit_at"] = home["last_visit_user_id"] = None
        for index, (d, outcome) in enumerate(zip(days, outcomes)):
            user_id = members[int(draw() * len(members))]
            second = _visit_second(draw)
            visited_at = prefixes[d] + clocks[second]
            received_at = prefixes[d] + clocks[min(second + _sync_delay(draw), LAST_SECOND)]
            lat, lon, accuracy, distance, flag, reason = _position(rng, lon0, lat0, metres_lon)
            met, notes = "[]", ""
            if outcome == "met":
                met = met_lists[int(draw() * len(met_lists))]
                if draw() < 0.25:
                    notes = VISIT_NOTES[int(draw() * len(VISIT_NOTES))]
            elif outcome == "nobody_home" and draw() < 0.3:
                notes = NOBODY_HOME_NOTES[int(draw() * len(NOBODY_HOME_NOTES))]
            visit_uuid = _uuid4(rng)
            visits.append((visited_at, visit_uuid, home["id"], user_id, received_at, lat, lon, accuracy, distance,
                           flag, reason, outcome, met, notes))
            if index == raise_at:
                raised.append((home, visit_uuid, user_id, d, received_at, plan))
        if days:
            home["last_visit_at"], home["last_visit_user_id"] = visits[-1][0], visits[-1][3]
    visits.sort(key=itemgetter(0))  # SQLite numbers them in this order: ids follow time
    wanted = {entry[1] for entry in raised}
    visit_ids = {row[1]: i for i, row in enumerate(visits, start=first_id) if row[1] in wanted}
    return visits, [(home, visit_ids[visit_uuid], *rest) for home, visit_uuid, *rest in raised]


def _visit_second(draw):
    """When a visit happens, in seconds after midnight UTC: a Shanghai morning, afternoon or early evening."""
    when = draw()
    if when < 0.45:
        local = 30_600 + int(draw() * 10_800)  # 08:30-11:30
    elif when < 0.9:
        local = 50_400 + int(draw() * 12_600)  # 14:00-17:30
    else:
        local = 66_600 + int(draw() * 5_400)  # 18:30-20:00
    return local - 8 * 3600  # daytime in Shanghai is the same calendar day in UTC


def _sync_delay(draw):
    """Seconds between a visit and its arrival: at once, or hours later after a stairwell without signal."""
    when = draw()
    if when < 0.85:
        return 2 + int(draw() * 120)
    if when < 0.95:
        return 120 + int(draw() * 1_680)
    return 1_800 + int(draw() * 19_800)


def _uuid4(rng):
    """A random (version 4) UUID from rng: str(uuid.UUID(int=..., version=4)), four times faster."""
    text = "%032x" % ((rng.getrandbits(128) & UUID4_MASK) | UUID4_BITS)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _visit_days(rng, home, plan):
    """Days ago (oldest first) on which a household was visited, and each visit's outcome."""
    if home["occupancy"] != "occupied":  # a vacant flat is looked at now and then; a move is found on a visit
        moved = home["occupancy"] == "moved_out"
        count = rng.randint(1 if moved else 0, 2)
        days = sorted(rng.sample(range(1, HISTORY_DAYS + 1), count), reverse=True)
        return days, ["nobody_home"] * (count - 1) + ["moved_out"] if moved else ["vacant"] * count
    cycle = home["days"]
    draw = rng.random()
    due_share = 0.22 if cycle >= 30 else 0.25
    if plan == "due" or (plan not in ("visited", "open_request", "overdue_request") and draw < due_share):
        last = rng.randint(cycle, min(HISTORY_DAYS, cycle + 40))
    elif plan is None and draw > 0.985:
        return [], []  # never visited
    else:
        last = rng.randint(1, cycle - 1)
    shortest, longest = max(3, cycle // 7), max(5, cycle // 3 + 1)  # days between two visits
    days, d = [], last
    while d <= HISTORY_DAYS:
        days.append(d)
        d += shortest + int(rng.random() * (longest - shortest + 1))
    days.reverse()
    outcomes = [("met" if chance < 0.82 else "nobody_home" if chance < 0.97 else "declined")
                for chance in (rng.random() for _ in days)]
    return days, outcomes


def _raising_visit(rng, days, plan):
    """Which of a household's visits raised its request (an index into days), or None."""
    if not days or plan not in ("request", "open_request", "overdue_request"):
        return None
    if plan == "open_request":
        return len(days) - 1
    if plan == "overdue_request":
        return 0
    return len(days) - 1 if rng.random() < 0.3 else rng.randrange(len(days))


def _clock(seconds):
    """The time part of a stored timestamp for seconds after midnight UTC."""
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def _position(rng, lon0, lat0, metres_lon):
    """Where the phone said it was: lat, lon, accuracy, distance from the household, flag, reason."""
    draw = rng.random
    when = draw()
    if when < 0.02:
        return None, None, None, None, "no_location", NO_LOCATION_REASONS[int(draw() * len(NO_LOCATION_REASONS))]
    if when < 0.05:
        metres, accuracy = 20 + draw() * 280, 101 + int(draw() * 300)
    elif when < 0.08:
        metres, accuracy = 160 + draw() * 640, 5 + int(draw() * 36)
    else:
        metres, accuracy = 5 + draw() * 55, 5 + int(draw() * 36)
    angle = draw() * 2 * math.pi
    lat = lat0 + metres * math.sin(angle) / 111_320
    lon = lon0 + metres * math.cos(angle) / metres_lon
    distance = rules.distance_m(lon0, lat0, lon, lat)
    return lat, lon, accuracy, distance, rules.location_flag(distance, accuracy), None


def requests(rng, raised, categories, today, first_id):
    """The ledger: a request for each raising visit, taken as far as the days since allow, with its events."""
    limit = rules.parse_iso(rules.local_midnight_utc(today))  # nothing happens today or later
    codes = sorted(CATEGORY_WEIGHTS)
    requests, events = [], []
    for request_id, (home, visit_id, user_id, d, created_at, plan) in enumerate(raised, start=first_id):
        category = ("housing" if plan == "open_request" else "medical" if plan == "overdue_request" else
                    rng.choices(codes, [CATEGORY_WEIGHTS[code] for code in codes])[0])
        descriptions, resolutions, referrals = REQUEST_TEXTS[category]
        due_days = categories[category]
        due_date = rules.request_due_date(today - timedelta(days=d), due_days)
        if plan == "open_request":
            target = "open"
        elif plan == "overdue_request":
            target = "in_progress"
        elif d <= due_days:  # still within its time limit
            target = rng.choices(rules.REQUEST_STATUSES, (35, 35, 20, 10))[0]
        else:  # mostly answered by now; the rest is overdue and names its responsible member
            target = rng.choices(rules.REQUEST_STATUSES, (6, 9, 20, 65))[0]
        referral = rng.choice(referrals) if rng.random() < 0.15 else None
        steps = _request_steps(rng, target, referral, resolutions, due_days)
        moment = rules.parse_iso(created_at)
        # The member who raised a request is responsible for it and takes every step.
        history = [(request_id, user_id, created_at, "created", None, "open", None, visit_id, "{}")]
        status, resolution, referred = "open", None, None
        for hours, kind, to_status, note, data in steps:
            moment += timedelta(hours=hours)
            if moment >= limit:
                break
            history.append((request_id, user_id, rules.iso(moment), kind, status if to_status else None, to_status,
                            note, None, json.dumps(data, ensure_ascii=False)))
            status = to_status or status
            resolution = note if kind == "resolved" else None if to_status == "open" else resolution
            referred = data.get("referral", referred)
        events.extend(history)
        requests.append((request_id, _uuid4(rng), home["id"], visit_id,
                         category, rng.choice(descriptions), status, user_id, due_date.isoformat(), referred,
                         resolution, user_id, created_at, history[-1][2], len(history)))
    return requests, events


def _request_steps(rng, target, referral, resolutions, due_days):
    """The planned steps of a request up to target: (hours after the previous, kind, to_status, note, data)."""
    if target == "open":
        return []
    steps = [(rng.uniform(2, 30), "status", "in_progress", "已受理，正在协调", {})]
    if referral:
        steps.append((rng.uniform(1, 24), "progress", None, f"已转介{REFERRAL_LABELS[referral]}",
                      {"referral": referral}))
    if rng.random() < 0.5:
        steps.append((rng.uniform(4, 48), "progress", None, rng.choice(PROGRESS_NOTES), {}))
    if target == "in_progress":
        return steps
    steps.append((rng.uniform(0.3, 1.0) * due_days * 24, "resolved", "resolved", rng.choice(resolutions), {}))
    satisfied = rng.random() < 0.93
    steps.append((rng.uniform(24, 120), "return_visit", None, None, {"satisfied": satisfied}))
    if not satisfied:  # the resident is not satisfied: the request opens again
        steps.append((0.2, "status", "open", "居民不满意，重新办理", {}))
    elif target == "closed":
        steps.append((0.2, "closed", "closed", None, {}))
    return steps
