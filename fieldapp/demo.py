"""The demo community: a made-up sub-district of Hangzhou's Xihu district (翠苑 and villages to its west),
its residents, accounts, and 90 days of visits and requests. Same seed and same day, same community."""
import contextlib
import json
import math
import random
from datetime import datetime, time, timedelta
from itertools import accumulate
from operator import itemgetter
from pathlib import Path

from argon2 import PasswordHasher

from fieldapp import rules
from fieldapp.data.db import write

GEODATA_DIR = Path(__file__).resolve().parent.parent / "geodata" / "demo"
PASSWORD = "demo1234"
HISTORY_DAYS = 90
HOUSEHOLDS_PER_CELL = 133
VILLAGE_SHARE = 0.15  # households in standalone village houses; the rest live in apartment buildings
EAST, SOUTH = 120.1170, 30.2800  # the south-east corner; the area grows west (villages) and north
CELL_LON, CELL_LAT = 0.0027, 0.0023  # about 260 m by 255 m
JITTER = 0.2  # of a cell's side; below 0.25 every cell stays a convex quadrilateral
LAST_SECOND = 57_599  # 15:59:59 UTC is 23:59:59 in Shanghai: nothing is received after the visit's day
UUID4_MASK = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits of a UUID
UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)

SURNAMES = ("王王王李李李张张张刘刘陈陈陈杨杨赵黄黄周周吴吴徐徐孙胡朱朱高林何郭马罗梁宋郑谢韩唐冯"
            "于董程曹袁邓许傅沈沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹金金陆"
            "郝孔崔康毛邱秦江史顾侯邵孟钱钱汤俞俞楼应屠童柴舒裘")
GIVEN = {
    "m": "伟刚勇毅俊峰强军平东文辉力明永健志兴良海山波宁福生龙国学祥发新利清飞彬富顺杰涛成康光"
         "达安中进林坚和博诚震振磊民友浩亮政宏斌栋鹏泽晨建家德雄钧航宇轩睿浩然子豪一鸣",
    "f": "秀娟英华慧巧美娜静淑惠翠雅芝玉萍红玲芬芳燕彩春菊兰凤洁梅琳云莲雪荣霞香月艳佳嘉琼珍莉"
         "叶璐晶妍倩婷颖露瑶怡丹蓉君琴薇梦岚馨悦欣晓芸菲雨涵可思诗",
}
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "157", "158", "159", "180", "181", "182", "183", "186", "187", "188",
                   "189", "191", "193", "198", "199")
COMPOUNDS = ("翠苑", "古荡", "文三", "益乐", "嘉绿", "府苑", "学院", "华星", "竞舟", "文新", "申花",
             "西溪", "骆家庄", "花园", "桂花", "枫华")
VILLAGES = ("龙坞", "桐坞", "茶坞", "上城埭", "何家", "大清", "外桐坞", "慈母桥", "西山", "叶埠桥")

VISIT_NOTES = ("身体状况良好，无特殊需求", "了解家庭近况，一切正常", "宣传垃圾分类和反诈知识",
               "提醒注意用电用气安全", "老人血压偏高，提醒按时服药", "子女在外地工作，老人精神不错",
               "发放防诈骗宣传册", "聊了家常，对社区工作满意", "告知社区老年食堂开放时间",
               "提醒电动车不要在楼道充电")
NOBODY_HOME_NOTES = ("敲门无人应答，已留联系卡", "邻居说白天上班，改晚上再来", "电话联系未接通")
NO_LOCATION_REASONS = ("定位权限未开启", "地下室没有信号，无法定位", "定位超时")
# category: (descriptions, resolutions, referrals that fit)
REQUEST_TEXTS = {
    "employment": (("孩子大学毕业半年还没找到工作，想了解社区招聘信息", "下岗后想参加技能培训，咨询培训补贴",
                    "想在附近找保洁或家政工作"),
                   ("已推荐参加街道招聘会并登记求职意向", "已帮助报名职业技能培训班"),
                   ("trade_union", "affairs_center", "youth_league")),
    "medical": (("咨询医保报销政策", "老人行动不便，希望家庭医生上门随访", "慢性病每月要去医院配药，想了解长处方"),
                ("已联系社区卫生服务中心签约家庭医生", "已讲解医保报销流程并发放宣传资料"),
                ("health_center",)),
    "elderly_care": (("独居老人希望申请助餐服务", "想为老人申请居家养老服务补贴", "老人希望安装紧急呼叫设备"),
                     ("已为老人登记社区老年食堂助餐", "已协助提交居家养老服务补贴申请"),
                     ("health_center", "affairs_center")),
    "housing": (("楼顶漏水，雨天家里墙面发霉", "想了解老旧小区加装电梯的进度", "外墙瓷砖松动，担心掉落伤人"),
                ("已联系物业完成屋面防水修补", "已向加梯工作组反映并答复进度"),
                ("affairs_center",)),
    "sanitation": (("楼道灯坏了，老人晚上出门不方便", "楼道堆放杂物，存在消防隐患",
                    "垃圾分类投放点异味大，希望增加清运次数", "绿化带积水，蚊虫多"),
                   ("已报物业更换楼道灯", "已组织清理楼道堆物", "已协调增加清运频次"),
                   ("affairs_center",)),
    "public_security": (("单元门禁坏了，陌生人随意进出", "夜间有人把电动车推进楼道充电", "小区东门监控有盲区"),
                        ("已联系物业修复门禁", "已劝导住户到集中充电点充电"),
                        ("affairs_center",)),
    "dispute": (("楼上漏水到楼下，两家协商不成", "邻居装修噪音影响休息", "停车位使用发生纠纷"),
                ("已组织双方调解，达成维修协议", "已协调装修时间并告知双方"),
                ("womens_federation", "affairs_center")),
    "policy": (("咨询低保申请条件", "咨询新生儿落户和参保手续", "咨询退役军人优待证办理", "咨询高龄津贴申领"),
               ("已讲解政策并指导网上申请", "已告知所需材料及受理窗口"),
               ("affairs_center", "party_center")),
    "other": (("希望社区多组织老年人文体活动", "孩子暑假想参加社区托管班", "想加入社区志愿者队伍"),
              ("已登记并告知活动安排", "已推荐加入社区志愿服务队"),
              ("culture_center", "youth_league", "party_center")),
}
CATEGORY_WEIGHTS = {"employment": 6, "medical": 14, "elderly_care": 12, "housing": 10, "sanitation": 22,
                    "public_security": 6, "dispute": 6, "policy": 18, "other": 6}
PROGRESS_NOTES = ("已联系物业，等待上门处理", "已电话回复居民，正在协调", "已上报街道相关科室")
REFERRAL_LABELS = {"affairs_center": "社区事务受理中心", "culture_center": "社区文化活动中心",
                   "party_center": "党员服务中心", "health_center": "社区卫生服务中心",
                   "trade_union": "工会", "youth_league": "共青团", "womens_federation": "妇联"}


def build(db, *, households=2000, seed=20261128, geodata_dir=None, today=None):
    """Fill db with the demo community, write its GeoJSON to geodata_dir if given, and return the counts."""
    rng = random.Random(seed)
    today = today or rules.today()
    password_hash = PasswordHasher().hash(PASSWORD)  # once for every account: hashing is slow on purpose
    ids = {table: _next_id(db, table) for table in
           ("grids", "cells", "buildings", "households", "residents", "users", "visits", "requests")}
    # The places come first from the generator: the GeoJSON depends on the seed and size, never on today.
    grids, cells, buildings, homes = _places(rng, households, ids)
    tags = {row["code"]: row for row in db.query("SELECT id, code, cycle_days FROM tags")}
    default_days = int(db.execute("SELECT value FROM settings WHERE key = 'default_cycle_days'").fetchone()[0])
    residents, resident_tags = _residents(rng, homes, tags, default_days, today, ids["residents"])
    users, assignments = _accounts(rng, grids, cells, password_hash, today, ids["users"])
    visits, raised = _visits(rng, homes, today, ids["visits"])
    categories = {row["code"]: row["due_days"] for row in db.query("SELECT code, due_days FROM categories")}
    requests, events = _requests(rng, raised, categories, today, ids["requests"])

    with _bulk_load(db):
        _insert(db, "grids", ("id", "code", "name"), grids)
        _insert(db, "cells", ("id", "grid_id", "code", "name", "geometry", "min_lon", "min_lat", "max_lon",
                              "max_lat"), [_cell_row(cell) for cell in cells])
        _insert(db, "buildings", ("id", "external_id", "cell_id", "name", "kind", "lon", "lat"), buildings)
        _insert(db, "users", ("id", "username", "display_name", "password_hash", "role", "grid_id", "created_at"),
                users)
        _insert(db, "households", ("id", "external_id", "cell_id", "building_id", "unit", "room", "address", "lon",
                                   "lat", "occupancy", "last_visit_at", "last_visit_user_id", "created_at"),
                [_household_row(home) for home in homes])
        _insert(db, "residents", ("id", "household_id", "name", "phone", "gender", "birth_year", "moved_out_at",
                                  "created_at"), residents)
        _insert(db, "resident_tags", ("resident_id", "tag_id"), resident_tags)
        _insert(db, "assignments", ("cell_id", "user_id", "valid_from", "valid_to", "assigned_by"), assignments)
        _insert(db, "visits", ("visited_at", "uuid", "household_id", "user_id", "received_at", "lat", "lon",
                               "accuracy_m", "distance_m", "location_flag", "no_location_reason", "outcome",
                               "residents_met", "notes"), visits)
        _insert(db, "requests", ("id", "uuid", "household_id", "visit_id", "category", "description", "status",
                                 "responsible_user_id", "due_date", "referral", "resolution", "created_by",
                                 "created_at", "updated_at", "version"), requests)
        _insert(db, "request_events", ("request_id", "user_id", "at", "kind", "from_status", "to_status", "note",
                                       "visit_id", "data"), events)
    if geodata_dir is not None:
        write_geojson(db, geodata_dir)
    return {"grids": len(grids), "cells": len(cells), "buildings": len(buildings), "households": len(homes),
            "residents": len(residents), "users": len(users), "visits": len(visits), "requests": len(requests)}


@contextlib.contextmanager
def _bulk_load(db):
    """Run a block as one fast write transaction: no fsync, a large cache, no per-row constraint checks."""
    # The generated rows are made to fit the schema, and tests/test_demo.py proves it with integrity_check
    # and foreign_key_check. Checked row by row, the IN-list CHECKs and the foreign keys add about two thirds
    # to the time it takes to insert a million visits.
    pragmas = ("synchronous", "cache_size", "foreign_keys", "ignore_check_constraints")
    saved = {name: db.execute(f"PRAGMA {name}").fetchone()[0] for name in pragmas}
    for name, value in zip(pragmas, ("OFF", -262_144, "OFF", "ON")):
        db.execute(f"PRAGMA {name} = {value}")
    try:
        with write(db):
            yield db
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        for name, value in saved.items():
            db.execute(f"PRAGMA {name} = {int(value)}")


def _next_id(db, table):
    """The first free id of table: the demo's ids are chosen up front so that rows can refer to each other."""
    return db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]


def _insert(db, table, columns, rows):
    """Insert rows (tuples in the order of columns) in bulk, building the table's indexes afterwards."""
    # Building an index once is much faster than keeping it up to date through a million inserts.
    indexes = db.execute("SELECT name, sql FROM sqlite_master "
                         "WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]).fetchall()
    for name, _sql in indexes:
        db.execute(f"DROP INDEX {name}")
    marks = ", ".join("?" * len(columns))
    db.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    for _name, sql in indexes:
        db.execute(sql)


def _places(rng, households, ids):
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


def _cell_row(cell):
    """A cell as a row: GeoJSON polygon text and its bounding box."""
    lons, lats = [p[0] for p in cell["ring"]], [p[1] for p in cell["ring"]]
    geometry = json.dumps({"type": "Polygon", "coordinates": [[list(p) for p in cell["ring"]]]},
                          separators=(",", ":"))
    return (cell["id"], cell["grid_id"], cell["code"], cell["name"], geometry,
            min(lons), min(lats), max(lons), max(lats))


def _household_row(home):
    """A household as a row."""
    return (home["id"], home["external_id"], home["cell"]["id"], home["building"], home["unit"], home["room"],
            home["address"], home["lon"], home["lat"], home["occupancy"], home["last_visit_at"],
            home["last_visit_user_id"], home["created_at"])


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


def _residents(rng, homes, tags, default_days, today, first_id):
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


def _accounts(rng, grids, cells, password_hash, today, first_id):
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


def _visits(rng, homes, today, first_id):
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


def _requests(rng, raised, categories, today, first_id):
    """The ledger: a request for each raising visit, taken as far as the days since allow, with its events."""
    limit = datetime.combine(today, time(0), rules.SHANGHAI)  # nothing happens today or later
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


def write_geojson(db, geodata_dir):
    """Write the cells, buildings and households of db as three GeoJSON FeatureCollections."""
    geodata_dir = Path(geodata_dir)
    geodata_dir.mkdir(parents=True, exist_ok=True)
    cells = [_feature(json.loads(row.pop("geometry")), row) for row in db.query(
        "SELECT cells.code, cells.name, grids.code AS grid_code, cells.geometry "
        "FROM cells JOIN grids ON grids.id = cells.grid_id ORDER BY cells.id")]
    buildings = [_feature(_point(row.pop("lon"), row.pop("lat")), row) for row in db.query(
        "SELECT buildings.external_id, buildings.name, buildings.kind, cells.code AS cell_code, "
        "buildings.lon, buildings.lat FROM buildings JOIN cells ON cells.id = buildings.cell_id "
        "ORDER BY buildings.id")]
    households = [_feature(_point(row.pop("lon"), row.pop("lat")), row) for row in db.query(
        "SELECT households.external_id, buildings.external_id AS building_external_id, households.unit, "
        "households.room, households.address, cells.code AS cell_code, households.occupancy, "
        "coalesce(households.lon, buildings.lon) AS lon, coalesce(households.lat, buildings.lat) AS lat "
        "FROM households JOIN cells ON cells.id = households.cell_id "
        "LEFT JOIN buildings ON buildings.id = households.building_id ORDER BY households.id")]
    for name, features in (("cells", cells), ("buildings", buildings), ("households", households)):
        lines = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features)
        text = '{"type":"FeatureCollection","features":[\n' + lines + "\n]}\n"
        (geodata_dir / f"{name}.geojson").write_text(text, encoding="utf-8")


def _point(lon, lat):
    """A GeoJSON point, rounded to six decimals (about 10 cm)."""
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


def _feature(geometry, properties):
    """A GeoJSON feature."""
    return {"type": "Feature", "geometry": geometry, "properties": properties}
