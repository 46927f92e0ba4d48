"""The demo's history: 90 days of visits. Mostly contacts (met at home, met elsewhere, by phone), the rest attempts
(nobody home, no answer, declined): some households had only attempts in this cycle, a few three or more and no
contact (unreachable). Doubtful visits for the review list: off-site, imprecise, without a position, sent a day or
more late, bursts (one member, five households or more within ten minutes)."""
import json
import math
from datetime import timedelta
from operator import itemgetter

from fieldapp import rules
from fieldapp.demo.people import HISTORY_DAYS, cycle_at, present_at
from fieldapp.demo.words import (DECLINED_NOTES, MET_ELSEWHERE_NOTES, NO_ANSWER_NOTES, NO_LOCATION_REASONS,
                                 NOBODY_HOME_NOTES, PHONE_CALL_NOTES, VISIT_NOTES)

LAST_SECOND = 57_599  # 15:59:59 UTC is 23:59:59 in Shanghai: nothing is received after the visit's day
UUID4_MASK = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits of a UUID
UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)
LATE_SHARE = 0.004  # visits sent a day or more after they were made (a phone left offline, a paper note)
AMEND_SHARE = 0.0015
REMOTE = ("phone_call", "no_answer")  # made by phone: the position is wherever the member was
# What a member may correct within the amend window: the outcome it becomes, and why.
AMENDED = {"met": ("phone_call", "实际是电话联系，更正结果"),
           "nobody_home": ("met_elsewhere", "下楼时在小区门口遇到居民，更正结果"),
           "declined": ("nobody_home", "误选了拒绝，实际无人在家")}
NOTES = {"met": (0.25, VISIT_NOTES), "met_elsewhere": (0.5, MET_ELSEWHERE_NOTES), "phone_call": (0.5, PHONE_CALL_NOTES),
         "nobody_home": (0.3, NOBODY_HOME_NOTES), "no_answer": (0.5, NO_ANSWER_NOTES),
         "declined": (0.3, DECLINED_NOTES)}
# Bursts, and how the leader's review of their visits went (review.py): a rejected burst's households that were
# met after all are accepted after the member's answer. The days ago leave room for the review's steps.
BURST_KINDS = ("rejected", "asked", "answered", "accepted", "pending")
BURST_REVIEWS = {"rejected": "settled", "asked": "asked", "answered": "answered", "accepted": "accepted",
                 "pending": None}
BURST_DAYS = {"rejected": (4, 9), "asked": (2, 9), "answered": (3, 9), "accepted": (5, 60), "pending": (1, 1)}


def bursts(rng, homes):
    """Plan the bursts the review list flags: one member records five to eight households of one building within
    ten minutes (a burst in 400 households, five at least), each reviewed as its kind says (BURST_KINDS); in a
    rejected burst the last one or two households were not met after all."""
    by_building = {}
    for home in homes:
        if (home["building"] is not None and home["plan"] is None and home["occupancy"] == "occupied"
                and not home["changes"]):
            by_building.setdefault(home["building"], []).append(home)
    candidates = [group for group in by_building.values() if len(group) >= 8]
    for number, group in enumerate(rng.sample(candidates, min(len(candidates), max(5, len(homes) // 400)))):
        kind = BURST_KINDS[number % len(BURST_KINDS)]
        d = rng.randint(*BURST_DAYS[kind])
        size = rng.randint(5, 8)
        first = rng.randrange(len(group) - size + 1)
        met = size - (rng.randint(1, 2) if kind == "rejected" else 0)
        second = _visit_second(rng.random)
        user_id = group[0]["cell"]["members"][0]
        for index, home in enumerate(group[first:first + size]):
            home["plan"] = "burst"
            home["burst"] = (d, second, user_id, BURST_REVIEWS[kind] if index < met else "rejected")
            second += rng.randint(45, 80)


def visits(rng, homes, today, first_id, default_days):
    """90 days of visits, sorted by time; the visits in which a request was raised; and by visit id what else refers
    to them: the register changes learnt at each ("learnt"), the doubtful visits with how far their review went
    ("reviews"), the amended outcomes ("amendments"). Sets each household's last visit, and its latest contact,
    meeting and attempt as the visits stand (data/visits.restand)."""
    # A million visits at full size: format each day and each time of day once, draw with random().
    prefixes = [(today - timedelta(days=d)).isoformat() + "T" for d in range(HISTORY_DAYS + 1)]
    clocks = [_clock(second) for second in range(LAST_SECOND + 1)]
    draw = rng.random
    visits, raised, learnt, reviews, amendments = [], [], [], [], []
    for home in homes:
        members = home["cell"]["members"]
        leader = home["cell"]["leader"]
        plan = home["plan"]
        if plan is None and home["occupancy"] == "occupied":
            chance = draw()
            if chance < 0.08:
                plan = "request"
            elif chance < 0.135 and not home["changes"]:
                plan = "attempts" if chance < 0.12 else "unreachable"
        days, outcomes = _visit_days(rng, home, plan, default_days)
        learnt_at = _learnt_at(home, days, outcomes)
        burst = home.get("burst")
        burst_at = _merge_burst(burst, days, outcomes) if burst else None
        raise_at = _raising_visit(rng, days, plan)
        if raise_at is not None:
            outcomes[raise_at] = "met"
        lon0, lat0 = home["point"]
        metres_lon = 111_320 * math.cos(math.radians(lat0))
        present = home["present"]
        people = home["residents"]
        met_lists = ["[" + ", ".join(map(str, people[:size])) + "]" for size in range(1, len(people) + 1)]  # JSON
        phoned = f"[{home['phoned']}]"
        home["last_visit_at"] = home["last_visit_user_id"] = None
        home["last_contact_at"] = home["last_met_at"] = home["last_attempt_at"] = None
        for index, (d, outcome) in enumerate(zip(days, outcomes)):
            if index == burst_at:
                user_id, second = burst[2], burst[1]
            else:
                user_id = members[int(draw() * len(members))]
                second = _visit_second(draw)
            visited_at = prefixes[d] + clocks[second]
            late = d >= 2 and draw() < LATE_SHARE and index != raise_at and index != burst_at
            if late:
                received_at, received_ago = _late(draw, prefixes, clocks, d, second)
            else:
                received_second = min(second + _sync_delay(draw), LAST_SECOND)
                received_at, received_ago = prefixes[d] + clocks[received_second], d
            lat, lon, accuracy, distance, flag, reason = _position(rng, lon0, lat0, metres_lon, outcome)
            met, notes = "[]", ""
            if outcome in rules.CONTACT_OUTCOMES:
                if present is not None:
                    here = present_at(home, d)
                    met = json.dumps(here[:1 + int(draw() * len(here))] if outcome == "met" else here[:1])
                else:
                    met = (met_lists[int(draw() * len(met_lists))] if outcome == "met" else
                           phoned if outcome == "phone_call" else met_lists[0])
            share, texts = NOTES.get(outcome, (0, ()))
            if share and draw() < share:
                notes = texts[int(draw() * len(texts))]
            visit_uuid = uuid4(rng)
            visits.append((visited_at, visit_uuid, home["id"], user_id, received_at, lat, lon, accuracy, distance,
                           flag, reason, outcome, met, notes))
            if index == raise_at:
                raised.append((home, visit_uuid, user_id, d, received_at, plan))
            for change in learnt_at.get(index, ()) if learnt_at else ():
                learnt.append((visit_uuid, change, home, user_id, visited_at, received_at, received_ago))
            now, counts = outcome, True
            if index == burst_at:
                reviews.append((visit_uuid, burst[3], "burst", received_ago, user_id, leader, outcome))
                counts = burst[3] != "rejected"
            else:
                if flag != "ok" and outcome not in REMOTE or late:
                    reviews.append((visit_uuid, _review_plan(draw, received_ago), "late" if late else flag,
                                    received_ago, user_id, leader, outcome))
                if outcome in AMENDED and not late and draw() < AMEND_SHARE:
                    amended_second = received_second + 300 + int(draw() * 3300)
                    if amended_second <= LAST_SECOND:
                        now, why = AMENDED[outcome]
                        amendments.append((visit_uuid, user_id, prefixes[d] + clocks[amended_second], why, now))
            if counts:
                if now in rules.CONTACT_OUTCOMES:
                    home["last_contact_at"] = visited_at
                    if now in rules.IN_PERSON_OUTCOMES:
                        home["last_met_at"] = visited_at
                elif now in rules.ATTEMPT_OUTCOMES:
                    home["last_attempt_at"] = visited_at
        if days:
            home["last_visit_at"], home["last_visit_user_id"] = visits[-1][0], visits[-1][3]
    visits.sort(key=itemgetter(0))  # SQLite numbers them in this order: ids follow time
    wanted = {entry[1] for entry in raised}
    wanted.update(entry[0] for found in (learnt, reviews, amendments) for entry in found)
    visit_ids = {row[1]: i for i, row in enumerate(visits, start=first_id) if row[1] in wanted}
    found = {name: [(visit_ids[entry[0]], *entry[1:]) for entry in entries]
             for name, entries in (("learnt", learnt), ("reviews", reviews), ("amendments", amendments))}
    return visits, [(home, visit_ids[visit_uuid], *rest) for home, visit_uuid, *rest in raised], found


def _learnt_at(home, days, outcomes):
    """Which visit (an index into days) learnt each of a household's planned register changes: the first visit
    after the change (at the door, so met), or the visit that found the household moved out."""
    learnt = {}
    for change in home["changes"]:
        if home["occupancy"] == "moved_out":
            index = len(days) - 1
        else:
            index = next(i for i, d in enumerate(days) if d < change["day"])
            outcomes[index] = "met"
        learnt.setdefault(index, []).append(change)
    return learnt


def _merge_burst(burst, days, outcomes):
    """Put a household's burst visit among its visits (replacing one on that day; a household not met in it has
    no visit after it) and return its index."""
    d, rejected = burst[0], burst[3] == "rejected"
    kept = [(day, outcome) for day, outcome in zip(days, outcomes) if day > d or (day < d and not rejected)]
    kept.append((d, "met"))
    kept.sort(key=itemgetter(0), reverse=True)
    days[:], outcomes[:] = [day for day, _o in kept], [outcome for _d, outcome in kept]
    return days.index(d)


def _late(draw, prefixes, clocks, d, second):
    """When a visit made on day d (days ago) at second arrived one to four days later, and that day (days ago)."""
    later = 1 + int(draw() * min(4, d - 1))
    received = _visit_second(draw)
    if later == 1 and received <= second:
        received = min(second + 60 + int(draw() * 7_200), LAST_SECOND)
    return prefixes[d - later] + clocks[received], d - later


def _review_plan(draw, received_ago):
    """How far the leader's review of a doubtful visit received received_ago days ago went (see review.py)."""
    if received_ago <= 2:
        return None  # still on the review list
    chance = draw()
    if received_ago <= 10:
        return ("asked" if chance < 0.08 else "answered" if chance < 0.14 else "settled" if chance < 0.2 else
                "accepted" if chance < 0.75 else None)
    return "settled" if chance < 0.06 else "accepted" if chance < 0.92 else None


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


def uuid4(rng):
    """A random (version 4) UUID from rng: str(uuid.UUID(int=..., version=4)), four times faster."""
    text = "%032x" % ((rng.getrandbits(128) & UUID4_MASK) | UUID4_BITS)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _outcome(chance):
    """What a visit found, drawn: mostly met at home, some met elsewhere or by phone, the rest attempts."""
    return ("met" if chance < 0.75 else "met_elsewhere" if chance < 0.78 else "phone_call" if chance < 0.82 else
            "nobody_home" if chance < 0.94 else "no_answer" if chance < 0.97 else "declined")


def _attempt(chance):
    """What an attempt found, drawn."""
    return "nobody_home" if chance < 0.6 else "no_answer" if chance < 0.85 else "declined"


def _visit_days(rng, home, plan, default_days):
    """Days ago (oldest first) on which a household was visited, and each visit's outcome."""
    if home["occupancy"] != "occupied":  # a vacant flat is looked at now and then; a move is found on a visit
        if home["occupancy"] == "vacant":
            count = rng.randint(0, 2)
            return sorted(rng.sample(range(1, HISTORY_DAYS + 1), count), reverse=True), ["vacant"] * count
        found = rng.randint(1, home["changes"][0]["day"] - 1)  # after everyone left
        days = [found] if rng.random() < 0.5 else [rng.randint(found + 1, HISTORY_DAYS), found]
        return days, ["nobody_home"] * (len(days) - 1) + ["moved_out"]
    cycle = home["days"]
    if plan in ("attempts", "unreachable"):
        return _attempts(rng, plan, cycle)
    draw = rng.random()
    due_share = 0.22 if cycle >= 30 else 0.25
    if plan == "due" or (plan not in ("visited", "open_request", "overdue_request") and draw < due_share):
        last = rng.randint(cycle, min(HISTORY_DAYS, cycle + 40))
    elif plan is None and draw > 0.985 and not home["changes"]:
        return [], []  # never visited
    else:
        last = rng.randint(1, cycle - 1)
    if home["changes"]:  # each change is learnt at a visit after it
        latest = min(change["day"] for change in home["changes"]) - 1
        last = last if last <= latest else rng.randint(1, latest)
    periods = home["periods"]
    shortest, longest = max(3, cycle // 7), max(5, cycle // 3 + 1)  # days between two visits
    days, d = [], last
    while d <= HISTORY_DAYS:
        days.append(d)
        if periods is not None:  # the cycle changed with the tags: the gaps follow the cycle of the day
            cycle = cycle_at(home, d, default_days)
            shortest, longest = max(3, cycle // 7), max(5, cycle // 3 + 1)
        d += shortest + int(rng.random() * (longest - shortest + 1))
    days.reverse()
    return days, [_outcome(rng.random()) for _ in days]


def _attempts(rng, plan, cycle):
    """Visits of a household nobody answered in this cycle: one or two attempts (attempts), or three or four and no
    contact (unreachable; some never reached in the records); before the cycle the usual visits, the latest a
    contact."""
    recent = sorted(rng.sample(range(1, cycle), rng.randint(1, 2) if plan == "attempts" else rng.randint(3, 4)),
                    reverse=True)
    never = plan == "unreachable" and rng.random() < 0.3
    shortest, longest = max(3, cycle // 7), max(5, cycle // 3 + 1)
    days, d = [], cycle + int(rng.random() * 5)
    while d <= HISTORY_DAYS:
        days.append(d)
        d += shortest + int(rng.random() * (longest - shortest + 1))
    days.reverse()
    outcomes = [_attempt(rng.random()) if never else _outcome(rng.random()) for _ in days]
    if outcomes and not never:
        outcomes[-1] = "met"
    return days + recent, outcomes + [_attempt(rng.random()) for _ in recent]


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


def _position(rng, lon0, lat0, metres_lon, outcome):
    """Where the phone said it was: lat, lon, accuracy, distance from the household, flag, reason. A phone call is
    made from anywhere; a resident met elsewhere was met downstairs, in the compound or further away."""
    draw = rng.random
    when = draw()
    if when < 0.02:
        return None, None, None, None, "no_location", NO_LOCATION_REASONS[int(draw() * len(NO_LOCATION_REASONS))]
    if outcome in REMOTE:
        metres, accuracy = 200 + draw() * 1_300, 5 + int(draw() * 36)
    elif outcome == "met_elsewhere":
        metres, accuracy = 20 + draw() * 580, 5 + int(draw() * 36)
    elif when < 0.05:
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
