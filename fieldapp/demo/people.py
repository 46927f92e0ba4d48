"""The demo's people: residents with their tags (and so each household's cycle), and the accounts."""
from datetime import datetime, time, timedelta
from itertools import accumulate

from fieldapp import rules
from fieldapp.demo.words import GIVEN, MOBILE_PREFIXES, SURNAMES


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
    """The people of one household, each as [gender, birth_year, surname or None, tags]."""
    draw = rng.random()
    if draw < 0.05:
        return [[rng.choice("mff"), rng.randint(1930, 1954), None, {"elderly_alone"}]]
    if draw < 0.06:  # grandparents raising a child whose parents work in another city
        surname = rng.choice(SURNAMES)
        born = rng.randint(1950, 1965)
        people = [["m", born, surname, set()], ["f", born + rng.randint(-3, 3), None, set()]][:rng.randint(1, 2)]
        return people + [[rng.choice("mf"), rng.randint(year - 14, year - 5), surname, {"left_behind_child"}]]
    size = rng.choices((1, 2, 3, 4), (22, 36, 27, 15))[0]
    gender = rng.choice("mf")
    born = rng.randint(1960 if size == 1 else 1940, year - 22)
    surname = rng.choice(SURNAMES)
    people = [[gender, born, surname if gender == "m" else None, set()]]
    if size > 1:
        spouse = "f" if gender == "m" else "m"
        people.append([spouse, born + rng.randint(-4, 4), surname if spouse == "m" else None, set()])
    for _ in range(size - 2):
        people.append([rng.choice("mf"), min(year - 1, born + rng.randint(24, 34)), surname, set()])
    for tag, share in (("low_income", 0.02), ("disabled", 0.03), ("veteran", 0.03), ("party_member", 0.06)):
        if rng.random() < share:
            adults = [p for p in people if p[1] <= year - 18] or people
            rng.choice(adults)[3].add(tag)
    return people


def residents(rng, homes, tags, default_days, today, first_id):
    """Residents and their tags; sets each household's created_at, residents and visit cycle."""
    residents, resident_tags = [], []
    resident_id = first_id
    year = today.year
    for home in homes:
        home["created_at"] = _at(today, rng.randint(400, 1500), 10)
        home["residents"], home["days"] = [], default_days
        if home["occupancy"] == "vacant":
            continue
        people = _family(rng, year)
        moved_out_at = _at(today, rng.randint(20, 300), 15) if home["occupancy"] == "moved_out" else None
        cycles = []
        for gender, born, surname, codes in people:
            age = year - born
            phone = None if age < 14 or rng.random() < (0.3 if age > 80 else 0.04) else _phone(rng)
            residents.append((resident_id, home["id"], _name(rng, gender, surname), phone, gender, born,
                              moved_out_at, home["created_at"]))
            for code in sorted(codes):
                resident_tags.append((resident_id, tags[code]["id"]))
                cycles.append(tags[code]["cycle_days"])
            home["residents"].append(resident_id)
            resident_id += 1
        if moved_out_at is None:
            home["days"] = rules.cycle_days(cycles, default_days)
    return residents, resident_tags


def _at(today, days_ago, hour):
    """The stored UTC timestamp of days_ago days before today at hour o'clock in Asia/Shanghai."""
    return rules.iso(datetime.combine(today - timedelta(days=days_ago), time(hour), rules.SHANGHAI))


def accounts(rng, grids, cells, password_hash, today, first_id):
    """Users (admin, a leader per grid, members) and assignments; sets each cell's members."""
    created_at = _at(today, 1100, 9)
    users = [(first_id, "admin", _name(rng, "f"), password_hash, "admin", None, created_at)]
    leaders = {}
    for number, (grid_id, *_code_name) in enumerate(grids, start=1):
        leaders[grid_id] = first_id + len(users)
        users.append((leaders[grid_id], f"leader{number}", _name(rng, rng.choice("mf")), password_hash, "leader",
                      grid_id, created_at))
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
