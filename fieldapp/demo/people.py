"""The demo's people: residents with their relation to the head of the household and their tags (and so each
household's cycle), what changed in their lives during the records, and the accounts.

Life events are drawn here, each on a day (days ago) of the records, as plans of register changes: a death (the
widowed spouse living alone gets the elderly-alone tag from the next day; a new head if the head died), a child who
moved out (moved_to), a whole household that moved out, a newborn or a child moving back in (added at the door),
tags started and ended, phone numbers and names corrected, and phone numbers that a leader changed meanwhile (the
member's change is then kept as a conflict). The register is written as it stands after them; history finds the
visit at which each was learnt.
"""
from datetime import datetime, time, timedelta
from itertools import accumulate

from fieldapp import rules
from fieldapp.demo.words import CHANGE_REASONS, GIVEN, MOBILE_PREFIXES, MOVED_TO, SURNAMES

HISTORY_DAYS = 90  # the records: visits, requests and register changes of the last 90 days


def _name(rng, gender, surname=None):
    """A Chinese name of two or three characters."""
    given = GIVEN[gender]
    if rng.random() < 0.3:
        return (surname or rng.choice(SURNAMES)) + rng.choice(given)
    return (surname or rng.choice(SURNAMES)) + rng.choice(given) + rng.choice(given)


def _phone(rng):
    """An 11-digit Chinese mobile number."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"


def _family(rng, year):
    """The people of one household, each as [gender, birth_year, surname or None, tags, relation]."""
    draw = rng.random()
    if draw < 0.05:
        return [[rng.choice("mff"), rng.randint(1930, 1954), None, {"elderly_alone"}, "户主"]]
    if draw < 0.06:  # grandparents raising a child whose parents work in another city
        surname = rng.choice(SURNAMES)
        born = rng.randint(1950, 1965)
        people = [["m", born, surname, set(), "户主"],
                  ["f", born + rng.randint(-3, 3), None, set(), "配偶"]][:rng.randint(1, 2)]
        return people + [[rng.choice("mf"), rng.randint(year - 14, year - 5), surname, {"left_behind_child"}, "孙辈"]]
    size = rng.choices((1, 2, 3, 4), (22, 36, 27, 15))[0]
    gender = rng.choice("mf")
    born = rng.randint(1960 if size == 1 else 1940, year - 22)
    surname = rng.choice(SURNAMES)
    people = [[gender, born, surname if gender == "m" else None, set(), "户主"]]
    if size > 1:
        spouse = "f" if gender == "m" else "m"
        people.append([spouse, born + rng.randint(-4, 4), surname if spouse == "m" else None, set(), "配偶"])
    for _ in range(size - 2):
        people.append([rng.choice("mf"), min(year - 1, born + rng.randint(24, 34)), surname, set(), "子女"])
    if size > 2 and born >= 1962 and rng.random() < 0.25:  # an old parent lives with the family instead
        parent = rng.choice("mf")
        people[-1] = [parent, born - rng.randint(22, 34), surname if parent == "m" and gender == "m" else None,
                      set(), "父母"]
    for tag, share in (("low_income", 0.02), ("disabled", 0.03), ("veteran", 0.03), ("party_member", 0.06)):
        if rng.random() < share:
            adults = [p for p in people if p[1] <= year - 18] or people
            rng.choice(adults)[3].add(tag)
    return people


def residents(rng, homes, tags, default_days, today, first_id):
    """Residents (as they stand after the records) and their tags with their days; sets each household's
    created_at, residents, visit cycle and the register changes its life events call for (see _life)."""
    residents, resident_tags = [], []
    resident_id = first_id
    year = today.year
    days = [(today - timedelta(days=d)).isoformat() for d in range(HISTORY_DAYS + 1)]
    for home in homes:
        home["created_at"] = _at(today, rng.randint(400, 1500), 10)
        home["residents"], home["days"], home["changes"] = [], default_days, []
        home["present"] = home["periods"] = home["phoned"] = None
        if home["occupancy"] == "vacant":
            continue
        people = []
        for gender, born, surname, codes, relation in _family(rng, year):
            age = year - born
            phone = None if age < 14 or rng.random() < (0.3 if age > 80 else 0.04) else _phone(rng)
            people.append({"id": resident_id, "gender": gender, "born": born, "name": _name(rng, gender, surname),
                           "phone": phone, "relation": relation, "tags": {code: [None, None] for code in codes},
                           "since": None, "left": None})
            resident_id += 1
        if home["occupancy"] == "moved_out":
            _moved_away(rng, home, people)
        elif home["plan"] is None:
            resident_id = _life(rng, home, people, year, today, resident_id)
        for person in people:
            left = person["left"]
            residents.append((person["id"], home["id"], person["name"], person["phone"], person["gender"],
                              person["born"], person["relation"], days[left[0]] if left else None,
                              left[1] if left else None, left[2] if left else None,
                              None if person["since"] is not None else home["created_at"]))
            person["row"] = len(residents) - 1  # a resident added at the door is created when the change arrives
            for code, (start, end) in sorted(person["tags"].items()):
                if left and end is None:
                    end = left[0]  # a resident's tags stop counting on the day they left
                resident_tags.append((person["id"], tags[code]["id"], None if start is None else days[start],
                                      None if end is None else days[end]))
        _cycles(home, people, tags, default_days)
    return residents, resident_tags


def _cycles(home, people, tags, default_days):
    """Set a household's residents and cycle now, and if its people or tags changed during the records (it has
    changes), who was there when (present) and which tag cycles held when (periods), in days ago."""
    home["residents"] = current = [p["id"] for p in people if p["left"] is None]
    callable_ = [p["id"] for p in people if p["left"] is None and p["phone"]]
    home["phoned"] = (callable_ or current or [None])[0]  # who a phone call reaches
    if home["occupancy"] != "occupied":
        return
    if not home["changes"]:
        home["days"] = rules.cycle_days([tags[code]["cycle_days"] for p in people for code in p["tags"]], default_days)
        return
    periods = []
    for person in people:
        until = person["left"][0] if person["left"] else None
        for code, (start, end) in person["tags"].items():
            if tags[code]["cycle_days"]:
                periods.append((tags[code]["cycle_days"], start, until if end is None else end))
    home["days"] = rules.cycle_days([days for days, _start, end in periods if end is None], default_days)
    home["present"] = [(p["id"], p["since"], p["left"][0] if p["left"] else None) for p in people]
    home["periods"] = periods


def cycle_at(home, days_ago, default_days):
    """A household's cycle on the day days_ago, from the tags that held then (periods)."""
    held = [days for days, start, end in home["periods"]
            if (start is None or days_ago <= start) and (end is None or days_ago > end)]
    return min(held + [default_days])


def present_at(home, days_ago):
    """The residents of a household whose people changed during the records, on the day days_ago."""
    return [resident for resident, since, until in home["present"]
            if (since is None or days_ago <= since) and (until is None or days_ago > until)]


def _change(day, kind, resident, reason, **fields):
    """A planned register change of resident (a person of _life): learnt at the first visit after day (days ago)."""
    return {"day": day, "kind": kind, "who": resident, "field": None, "before": None, "after": None, "reason": reason,
            **fields}


def _left(rng, home, person, day, reason, why, moved_to=None):
    """Person left on day (moved_out or deceased): their tags end that day (the register does so)."""
    person["left"] = (day, reason, moved_to)
    home["changes"].append(_change(day, "resident_left", person, rng.choice(CHANGE_REASONS[why]), field="status",
                                   after=reason, moved_to=moved_to))


def _moved_away(rng, home, people):
    """A household that moved out: everyone left on one day, found on a visit after it."""
    day = rng.randint(3, 80)
    moved_to = rng.choice(MOVED_TO) if rng.random() < 0.5 else None
    for person in people:
        _left(rng, home, person, day, "moved_out", "household_moved_out", moved_to)


def _life(rng, home, people, year, today, next_id):
    """Draw what happened to an occupied household during the records (mostly nothing) and plan its register
    changes; returns the next free resident id (a resident added at the door takes one)."""
    day = rng.randint(3, 80)  # it happened that many days ago, and was learnt at the next visit
    draw = rng.random()
    if draw >= 0.3:  # none of the family's events below
        _small_change(rng, home, people, year, day)
        return next_id
    head = people[0]
    elderly = [p for p in people if p["born"] <= 1954]
    children = [p for p in people if p["relation"] == "子女" and year - p["born"] >= 20]
    parents = [p for p in people if p["relation"] == "父母"]
    grandchildren = [p for p in people if "left_behind_child" in p["tags"]]
    if len(people) == 2 and len(elderly) == 2 and draw < 0.06:
        died = rng.choice(people)
        widowed = people[1] if died is head else head
        _left(rng, home, died, day, "deceased", "deceased")
        if died is head:
            home["changes"].append(_change(day, "resident_corrected", widowed, CHANGE_REASONS["new_head"][0],
                                           field="relation", before="配偶", after="户主"))
            widowed["relation"] = "户主"
        widowed["tags"]["elderly_alone"] = [day - 1, None]  # alone from the day after
        home["changes"].append(_change(day, "tag_added", widowed, CHANGE_REASONS["widowed"][0], field="tag",
                                       after="elderly_alone"))
    elif parents and draw < 0.08:
        _left(rng, home, parents[0], day, "deceased", "deceased")
    elif children and len(people) > 2 and draw < 0.05:
        moved_to = rng.choice(MOVED_TO) if rng.random() < 0.8 else None
        _left(rng, home, rng.choice(children), day, "moved_out", "child_moved_out", moved_to)
    elif len(people) == 2 and min(p["born"] for p in people) >= 1988 and draw < 0.08:
        father = next(p for p in people if p["gender"] == "m")
        gender = rng.choice("mf")
        born = (today - timedelta(days=day)).year
        baby = _added(rng, home, people, next_id, day, _name(rng, gender, father["name"][0]), gender, born, None,
                      "newborn")
        return baby["id"] + 1
    elif len(people) == 1 and "elderly_alone" in head["tags"] and draw < 0.06:
        gender = rng.choice("mf")
        child = _added(rng, home, people, next_id, day,
                       _name(rng, gender, head["name"][0] if head["gender"] == "m" else None), gender,
                       head["born"] + rng.randint(24, 34), _phone(rng), "child_back")
        head["tags"]["elderly_alone"][1] = day
        home["changes"].append(_change(day, "tag_ended", head, CHANGE_REASONS["child_back_tag"][0], field="tag",
                                       before="elderly_alone"))
        return child["id"] + 1
    elif grandchildren and draw < 0.3:
        child = grandchildren[0]
        started = draw < 0.2
        child["tags"]["left_behind_child"] = [day, None] if started else [None, day]
        home["changes"].append(_change(
            day, "tag_added" if started else "tag_ended", child,
            CHANGE_REASONS["left_behind_started" if started else "left_behind_ended"][0], field="tag",
            **({"after": "left_behind_child"} if started else {"before": "left_behind_child"})))
    else:
        _small_change(rng, home, people, year, day)
    return next_id


def _added(rng, home, people, resident_id, day, name, gender, born, phone, why):
    """A resident added at the door (a newborn, a child moving back in): the change carries the person."""
    person = {"id": resident_id, "gender": gender, "born": born, "name": name, "phone": phone, "relation": "子女",
              "tags": {}, "since": day, "left": None}
    people.append(person)
    entered = {"name": name, "phone": phone, "birth_year": born, "relation": "子女", "gender": gender, "tags": []}
    home["changes"].append(_change(day, "resident_added", person, CHANGE_REASONS[why][0], person=entered))
    return person


# Rarer changes of any household: (share, what) in the order drawn.
_SMALL = ((0.004, "low_income"), (0.003, "disabled"), (0.002, "party_member"), (0.015, "phone"), (0.003, "name"),
          (0.004, "conflict"), (0.001, "kept"), (0.001, "applied"))
_SMALL_BOUNDS = list(accumulate(share for share, _what in _SMALL))


def _small_change(rng, home, people, year, day):
    """A tag started or ended, a phone number or a name corrected, or a phone number that a leader changed while
    the member's phone still had the old one (a conflict: waiting, or decided either way in review)."""
    holder = next((p for p in people if "low_income" in p["tags"]), None)
    if holder and rng.random() < 0.15:
        holder["tags"]["low_income"][1] = day
        home["changes"].append(_change(day, "tag_ended", holder, CHANGE_REASONS["low_income_ended"][0],
                                       field="tag", before="low_income"))
        return
    draw = rng.random()
    if draw >= _SMALL_BOUNDS[-1]:
        return
    what = next(what for bound, (_share, what) in zip(_SMALL_BOUNDS, _SMALL) if draw < bound)
    adults = [p for p in people if year - p["born"] >= 18]
    if not adults:
        return
    if what in ("low_income", "disabled", "party_member"):
        person = rng.choice(adults)
        if what in person["tags"]:
            return
        person["tags"][what] = [day, None]
        home["changes"].append(_change(day, "tag_added", person, CHANGE_REASONS[f"{what}_started"][0], field="tag",
                                       after=what))
        return
    if what == "name":
        person = rng.choice(adults)
        typo = person["name"][:-1] + rng.choice([c for c in GIVEN[person["gender"]] if c != person["name"][-1]])
        home["changes"].append(_change(day, "resident_corrected", person, CHANGE_REASONS["name"][0], field="name",
                                       before=typo, after=person["name"]))
        return
    callable_ = [p for p in adults if p["phone"]]
    if not callable_:
        return
    person = rng.choice(callable_)
    old = _phone(rng)
    if what == "phone":
        home["changes"].append(_change(day, "resident_corrected", person, rng.choice(CHANGE_REASONS["phone"]),
                                       field="phone", before=old, after=person["phone"]))
        return
    # The leader wrote a new number (server); the member, with the old one on the phone, sends another. The
    # register holds the leader's until a review applies the member's (register.py).
    server, member = person["phone"], _phone(rng)
    home["changes"].append(_change(day, "resident_corrected", person, rng.choice(CHANGE_REASONS["phone"]),
                                   field="phone", before=old, after=member, server=server,
                                   resolution={"conflict": None, "kept": "keep", "applied": "apply"}[what]))


def _at(today, days_ago, hour):
    """The stored UTC timestamp of days_ago days before today at hour o'clock in Asia/Shanghai."""
    return rules.iso(datetime.combine(today - timedelta(days=days_ago), time(hour), rules.SHANGHAI))


def accounts(rng, grids, cells, password_hash, today, first_id):
    """Users (admin, a leader per grid, members) and assignments; sets each cell's members and leader."""
    created_at = _at(today, 1100, 9)
    users = [(first_id, "admin", _name(rng, "f"), password_hash, "admin", None, created_at)]
    leaders = {}
    for number, (grid_id, *_code_name) in enumerate(grids, start=1):
        leaders[grid_id] = first_id + len(users)
        users.append((leaders[grid_id], f"leader{number}", _name(rng, rng.choice("mf")), password_hash, "leader",
                      grid_id, created_at))
    for cell in cells:
        cell["leader"] = leaders[cell["grid_id"]]
    # About four members per five cells, at least twelve, each holding one or two cells of one grid.
    sizes = [sum(1 for cell in cells if cell["grid_id"] == grid[0]) for grid in grids]
    total = max(12, round(0.8 * len(cells)))
    bounds = [0] + [round(total * s / len(cells)) for s in accumulate(sizes)]
    assignments, number = [], 0
    for (grid_id, *_code_name), size, start, end in zip(grids, sizes, bounds, bounds[1:]):
        grid_cells = [cell for cell in cells if cell["grid_id"] == grid_id]
        members = []
        for _ in range(max(1, end - start)):
            number += 1
            members.append((first_id + len(users), _at(today, rng.randint(120, 420), 9)))
            users.append((members[-1][0], f"member{number}", _name(rng, rng.choice("mf")), password_hash, "member",
                          None, created_at))
        held = [[] for _ in members]
        if len(members) <= size:  # neighbouring cells go to the same member
            for index, cell in enumerate(grid_cells):
                held[index * len(members) // size].append(cell)
        else:  # more members than cells: some share a cell
            for index in range(len(members)):
                held[index].append(grid_cells[index % size])
        for (user_id, valid_from), their_cells in zip(members, held):
            for cell in their_cells:
                cell.setdefault("members", []).append(user_id)
                assignments.append((cell["id"], user_id, valid_from, None, leaders[grid_id]))
        for index, cell in enumerate(grid_cells):  # history: someone else held some cells before
            successor = cell["members"][0]
            others = [user_id for user_id, _f in members if user_id != successor]
            if index % 4 == 1 and others:
                valid_to = next(f for user_id, f in members if user_id == successor)
                valid_from = rules.iso(rules.parse_iso(valid_to) - timedelta(days=rng.randint(200, 600)))
                assignments.append((cell["id"], rng.choice(others), valid_from, valid_to, leaders[grid_id]))
    return users, assignments
