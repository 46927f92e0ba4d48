"""The demo's places: grids of cells that tile the area, apartment buildings with their rooms, village houses."""
import math
from itertools import accumulate

from fieldapp.demo.words import COMPOUNDS, VILLAGES

HOUSEHOLDS_PER_CELL = 133
VILLAGE_SHARE = 0.15  # households in standalone village houses; the rest live in apartment buildings
EAST, SOUTH = 120.1170, 30.2800  # the south-east corner; the area grows west (villages) and north
CELL_LON, CELL_LAT = 0.0027, 0.0023  # about 260 m by 255 m
JITTER = 0.2  # of a cell's side; below 0.25 every cell stays a convex quadrilateral


def draw(rng, households, ids):
    """Grids, cells, buildings and households: a jittered lattice of cells, village columns to the west."""
    count = max(15, round(households / HOUSEHOLDS_PER_CELL))
    rows = max(3, round(math.sqrt(count / 1.67)))
    cols = max(5, math.ceil(count / rows))
    village_cols = max(1, round(cols * VILLAGE_SHARE * 4 / 3))  # villages are less dense
    # Neighbouring cells share these very corner tuples, so they tile the area without gap or overlap.
    corners = [[(round(EAST - (cols - c + rng.uniform(-JITTER, JITTER)) * CELL_LON, 6),
                 round(SOUTH + (r + rng.uniform(-JITTER, JITTER)) * CELL_LAT, 6))
                for c in range(cols + 1)] for r in range(rows + 1)]
    # Grids are blocks of about 5 x 5 cells (at least three grids), numbered from the north-east.
    row_bands = math.ceil(rows / 5)
    col_bands = max(math.ceil(cols / 5), math.ceil(3 / row_bands))
    lattice = sorted(
        (((cols - 1 - c) * col_bands // cols) * row_bands + (rows - 1 - r) * row_bands // rows, rows - 1 - r, c)
        for r in range(rows) for c in range(cols))
    cells = []
    for grid, north, c in lattice:
        r = rows - 1 - north
        ring = [corners[r][c], corners[r][c + 1], corners[r + 1][c + 1], corners[r + 1][c], corners[r][c]]
        cells.append({"grid": grid, "ring": ring, "village": c < village_cols})
    village_cells = [cell for cell in cells if cell["village"]]
    urban_cells = [cell for cell in cells if not cell["village"]]
    village_total = round(households * VILLAGE_SHARE)
    for group, total in ((village_cells, village_total), (urban_cells, households - village_total)):
        for cell, size in zip(group, _split(rng, total, len(group))):
            cell["size"] = size
    _name_places(cells, ids)
    grids = _name_grids(cells, ids["grids"])
    buildings, homes = [], []
    house_numbers = {}
    for cell in cells:
        if cell["village"]:
            homes.extend(_village_houses(rng, cell, house_numbers))
        else:
            _apartments(rng, cell, buildings, homes, ids["buildings"] + len(buildings))
    for home_id, home in enumerate(homes, start=ids["households"]):
        home["id"] = home_id
        draw = rng.random()
        home["occupancy"] = "vacant" if draw < 0.03 else "moved_out" if draw < 0.04 else "occupied"
        home["plan"] = None
    # One cell of member1's shows every status, whatever the seed.
    first = [home for home in homes if home["cell"] is cells[0]][:5]
    for home, plan in zip(first, ("overdue_request", "open_request", "due", "visited", "vacant")):
        home["plan"] = plan
        home["occupancy"] = "vacant" if plan == "vacant" else "occupied"
    # And a household with only attempts in this cycle, and one nobody reached in it (history.py).
    occupied = [home for home in homes if home["cell"] is cells[0] and home["plan"] is None
                and home["occupancy"] == "occupied"]
    for home, plan in zip(occupied, ("attempts", "unreachable")):
        home["plan"] = plan
    return grids, cells, buildings, homes


def _split(rng, total, parts):
    """Split total into parts random whole numbers of similar size that add up to total."""
    weights = list(accumulate(rng.uniform(0.5, 1.5) for _ in range(parts)))
    bounds = [0] + [round(total * w / weights[-1]) for w in weights] if parts else [0]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def _chinese_number(n):
    """Write 1..99 in Chinese numerals: 12 -> 十二."""
    digits = "零一二三四五六七八九"
    if n >= 100:
        return str(n)
    tens, ones = divmod(n, 10)
    if not tens:
        return digits[ones]
    return (digits[tens] if tens > 1 else "") + "十" + (digits[ones] if ones else "")


def _name_places(cells, ids):
    """Give cells ids, codes and names: urban cells are parts of compounds, village cells 村民小组."""
    urban = village = 0
    per_grid = {}
    for cell_id, cell in enumerate(cells, start=ids["cells"]):
        cell["id"] = cell_id
        cell["grid_id"] = ids["grids"] + cell["grid"]
        per_grid[cell["grid"]] = per_grid.get(cell["grid"], 0) + 1
        cell["code"] = f"G{cell['grid'] + 1:02d}-{per_grid[cell['grid']]:02d}"
        if cell["village"]:
            cycle, index = divmod(village, 3 * len(VILLAGES))
            cell["place"] = VILLAGES[index // 3] + "村"
            cell["name"] = cell["place"] + _chinese_number(index % 3 + 1 + 3 * cycle) + "组"
            village += 1
        else:
            cycle, index = divmod(urban, 4 * len(COMPOUNDS))
            cell["name"] = COMPOUNDS[index // 4] + _chinese_number(index % 4 + 1 + 4 * cycle) + "区"
            urban += 1


def _name_grids(cells, first_id):
    """The grids as rows: mostly-village grids are named after their village, the others numbered."""
    grids, seen = [], {}
    for grid in range(cells[-1]["grid"] + 1):
        members = [cell for cell in cells if cell["grid"] == grid]
        villages = [cell for cell in members if cell["village"]]
        place = villages[0]["place"] if len(villages) * 2 > len(members) else "翠苑"
        seen[place] = seen.get(place, 0) + 1
        if place == "翠苑" or seen[place] > 1:  # 翠苑第一网格, 翠苑第二网格 ...; 龙坞村网格, 龙坞村第二网格
            name = f"{place}第{_chinese_number(seen[place])}网格"
        else:
            name = f"{place}网格"
        grids.append((first_id + grid, f"G{grid + 1:02d}", name))
    return grids


def _point_in(ring, u, v):
    """The point at (u, v) in 0..1 x 0..1 of a convex quadrilateral cell (bilinear): inside for 0 < u, v < 1."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ring[:4]
    a, b, c, d = (1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v
    return round(a * x0 + b * x1 + c * x2 + d * x3, 6), round(a * y0 + b * y1 + c * y2 + d * y3, 6)


def _village_houses(rng, cell, house_numbers):
    """The standalone houses of a village cell, each on its own point and numbered through the village."""
    homes = []
    for _ in range(cell["size"]):
        number = house_numbers[cell["place"]] = house_numbers.get(cell["place"], 0) + 1
        lon, lat = _point_in(cell["ring"], rng.uniform(0.06, 0.94), rng.uniform(0.06, 0.94))
        homes.append({"cell": cell, "external_id": f"{cell['code']}-H{number:03d}", "building": None,
                      "unit": None, "room": None, "address": f"{cell['place']} {number}号",
                      "lon": lon, "lat": lat, "point": (lon, lat)})
    return homes


def _apartments(rng, cell, buildings, homes, first_id):
    """The apartment buildings of an urban cell and their registered households (one per room)."""
    shapes, housed = [], 0
    while housed < cell["size"]:
        if rng.random() < 0.6:  # the 1990s six-storey blocks of a 新村
            shape = (rng.randint(5, 7), rng.randint(2, 4), 2)
        else:
            shape = (rng.choice((11, 15, 18)), rng.randint(1, 2), rng.randint(2, 4))
        shapes.append(shape)
        housed += shape[0] * shape[1] * shape[2]
    side = math.ceil(math.sqrt(len(shapes)))
    left = cell["size"]
    for number, (floors, units, doors) in enumerate(shapes, start=1):
        building_id = first_id + number - 1
        u = (((number - 1) % side) + 0.5 + rng.uniform(-0.2, 0.2)) / side
        v = (((number - 1) // side) + 0.5 + rng.uniform(-0.2, 0.2)) / side
        lon, lat = _point_in(cell["ring"], min(max(u, 0.1), 0.9), min(max(v, 0.1), 0.9))
        external_id = f"{cell['code']}-B{number:02d}"
        buildings.append((building_id, external_id, cell["id"], f"{number}号楼", "apartment", lon, lat))
        rooms = floors * units * doors
        taken = min(left, rooms)
        left -= taken
        for index in sorted(rng.sample(range(rooms), taken)):  # not every room is registered
            unit, rest = divmod(index, floors * doors)
            floor, door = divmod(rest, doors)
            room = f"{floor + 1}{door + 1:02d}"
            homes.append({"cell": cell, "external_id": f"{external_id}-{unit + 1}-{room}",
                          "building": building_id, "unit": str(unit + 1), "room": room,
                          "address": f"{cell['name']} {number}号楼 {unit + 1}单元 {room}室",
                          "lon": None, "lat": None, "point": (lon, lat)})

