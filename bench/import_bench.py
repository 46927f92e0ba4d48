"""Time the import of 100,000 households from CSV next to a bare sqlite-utils insert_all of the same rows.

    .venv/bin/python bench/import_bench.py [--source /tmp/big.db] [--households 100000] [--xlsx]

The input is the export of --source (the demo built by `fieldapp demo --households 100000`) when that
database holds enough households; otherwise a community of the same size is synthesised here. The import
is the whole path an admin's upload takes: read the CSV, check every row, place each household in its cell
(STRtree), compare with the database, and write in one transaction. Printed: both times and their ratio
(goal: at most 3x), once for households alone and once with their residents; with --xlsx the same rows
from an .xlsx workbook too, next to their CSV import (goal: at most 2x). CPU times too, since wall times on
a shared machine also measure the neighbours.
"""
import argparse
import csv
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fieldapp import imports, rules  # noqa: E402
from fieldapp.exports import kinds, tables  # noqa: E402
from fieldapp.data import db as database  # noqa: E402

CLOCK = {"today": "2026-11-28", "offset": "+480 minutes", "default_cycle": 30}
RESIDENT_COLUMNS = ("resident_name", "resident_phone", "resident_tags")


def from_source(path, wanted):
    """Cells, buildings and households (CSV) exported from a demo database, or None if it is too small."""
    if not os.path.exists(path):
        return None
    db = database.connect(path)
    try:
        if (database.scalar(db, "SELECT count(*) FROM households") or 0) < wanted:
            return None
        return {kind: kinds.export(db, kind, fmt, CLOCK)["content"]
                for kind, fmt in (("cells", "geojson"), ("buildings", "csv"), ("households", "csv"))}
    finally:
        db.close()


def synthesise(households, seed=7):
    """A made-up community: square cells on a grid, 20 households per building, one in ten a village house."""
    rng = random.Random(seed)
    side, size = 45, 0.002
    cells = [{"type": "Feature", "properties": {"code": f"C{x:02d}{y:02d}", "name": f"微网格{x}-{y}", "grid_code": f"G{x // 9}"},
              "geometry": {"type": "Polygon", "coordinates": [[
                  [120 + x * size, 30 + y * size], [120 + (x + 1) * size, 30 + y * size],
                  [120 + (x + 1) * size, 30 + (y + 1) * size], [120 + x * size, 30 + (y + 1) * size],
                  [120 + x * size, 30 + y * size]]]}} for x in range(side) for y in range(side)]
    buildings = ["external_id,name,kind,longitude,latitude"]
    rows = [",".join(kinds.HOUSEHOLD_COLUMNS)]
    number = 0
    while number < households:
        x, y = rng.randrange(side), rng.randrange(side)
        lon = 120 + (x + rng.uniform(0.1, 0.9)) * size
        lat = 30 + (y + rng.uniform(0.1, 0.9)) * size
        if rng.random() < 0.1:
            number += 1
            rows.append(f"H{number:06d},,,,村{number}号,{lon:.7f},{lat:.7f},occupied,,,王秀英,13812341234,独居老人")
            continue
        building = f"B{len(buildings):05d}"
        buildings.append(f"{building},{len(buildings)}号楼,apartment,{lon:.7f},{lat:.7f}")
        for flat in range(20):
            number += 1
            rows.append(f"H{number:06d},{building},{flat // 10 + 1},{flat % 10 + 101},{building}楼{flat}室,,,occupied,,,"
                        f"李建国,139{number:08d},")
    cells_text = json.dumps({"type": "FeatureCollection", "features": cells}, ensure_ascii=False)
    return {"cells": cells_text.encode(), "buildings": "\n".join(buildings).encode(),
            "households": "\n".join(rows[:households + 1]).encode()}


def without_residents(csv_bytes):
    """The households CSV with one row per household and no resident columns."""
    lines = csv_bytes.decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in RESIDENT_COLUMNS]
    seen, out = set(), [",".join(header[i] for i in keep)]
    for line in lines[1:]:
        values = line.split(",")
        if values[0] not in seen:  # addresses have no commas in these files
            seen.add(values[0])
            out.append(",".join(values[i] for i in keep))
    return "\n".join(out).encode()


def fresh_database(folder, name, files):
    """A migrated database with the cells and buildings of files imported."""
    db = database.connect(os.path.join(folder, name), migrate=True)
    for kind in ("cells", "buildings"):
        report = imports.preview(db, kind, files[kind], f"{kind}.{'geojson' if kind == 'cells' else 'csv'}")
        assert not report["errors"], report["errors"][:3]
        imports.commit(db, report)
    return db


def as_workbook(csv_bytes):
    """The households CSV as an .xlsx workbook (coordinates as numbers), as the export writes it."""
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    for row in rows:
        for key in ("longitude", "latitude"):
            row[key] = float(row[key]) if row[key] else None
    columns = list(rows[0])
    table = ("households", [(c, "text") for c in columns], [[row[c] for c in columns] for row in rows])
    return tables.xlsx_bytes([table])


def time_import(db, content, fmt="csv"):
    """(Wall, CPU) seconds to preview and commit a households file, and the preview."""
    started, cpu = time.perf_counter(), time.process_time()
    report = imports.preview(db, "households", content, f"households.{fmt}")
    assert not report["errors"], report["errors"][:3]
    imports.commit(db, report)
    return (time.perf_counter() - started, time.process_time() - cpu), report


def time_insert_all(db, report):
    """(Wall, CPU) seconds for a bare sqlite-utils insert_all of the same rows (households, residents, tags)."""
    now = rules.iso(rules.utcnow())
    households = [{**row, "created_at": now} for row in report["plan"]["households"]]
    started, cpu = time.perf_counter(), time.process_time()
    db["households"].insert_all(households, batch_size=1000)
    if report["plan"]["residents"]:
        ids = {r["external_id"]: r["id"] for r in db.query("SELECT id, external_id FROM households")}
        residents = [{"household_id": ids[key], "name": p["name"], "phone": p["phone"], "created_at": now}
                     for key, people in report["plan"]["residents"].items() for p in people]
        db["residents"].insert_all(residents, batch_size=1000)
        first = database.scalar(db, "SELECT min(id) FROM residents")
        tags = [{"resident_id": first + i, "tag_id": t}
                for i, p in enumerate(p for people in report["plan"]["residents"].values() for p in people)
                for t in p["tag_ids"]]
        db["resident_tags"].insert_all(tags, batch_size=1000)
    return time.perf_counter() - started, time.process_time() - cpu


def main():
    """Build or export the input, then time both ways for households alone and with residents."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/tmp/big.db")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--xlsx", action="store_true", help="Also time the same rows read from an .xlsx workbook.")
    args = parser.parse_args()
    files = from_source(args.source, args.households)
    origin = f"export of {args.source}" if files else "synthesised"
    files = files or synthesise(args.households)
    print(f"input: {origin}; households CSV {len(files['households']) / 1e6:.1f} MB")
    cases = run(files, args.xlsx)
    for case in cases:
        print(f"{case['label']}: {case['households']} households, {case['residents']} residents, "
              f"{case['skipped']} skipped")
        print(f"  import (read, check, place, compare, write): {case['import_s']:6.2f} s  "
              f"(CPU {case['import_cpu_s']:6.2f} s)")
        print(f"  bare sqlite-utils insert_all of the rows:     {case['bare_s']:6.2f} s  (CPU {case['bare_cpu_s']:6.2f} s)")
        print(f"  ratio: {case['import_s'] / case['bare_s']:.1f}x wall, {case['import_cpu_s'] / case['bare_cpu_s']:.1f}x "
              "CPU  (goal <= 3x; limit 60 s)")
        csv_case = same_rows_from_csv(case, cases)
        if csv_case:
            print(f"  next to the CSV import of the same rows ({csv_case['import_s']:.2f} s, CPU "
                  f"{csv_case['import_cpu_s']:.2f} s): {case['import_s'] / csv_case['import_s']:.1f}x wall, "
                  f"{case['import_cpu_s'] / csv_case['import_cpu_s']:.1f}x CPU  (goal <= 2x)")


def same_rows_from_csv(case, cases):
    """The CSV case of an .xlsx case's rows, or None (for a CSV case, or when it was not timed)."""
    if case["format"] != "xlsx":
        return None
    return next((other for other in cases if other["format"] == "csv" and other["rows"] == case["rows"]), None)


def run(files, with_xlsx=False, residents=True):
    """Time each case in fresh databases of a scratch folder; a list of figures, one dict per case."""
    sources = [("households", without_residents(files["households"]))]
    if residents:
        sources.append(("households with residents", files["households"]))
    cases = []
    for rows, content in sources:  # an .xlsx case right after its CSV case: the machine's load drifts less between
        cases.append((rows, rows, content, "csv"))
        if with_xlsx:
            cases.append((f"{rows} (.xlsx)", rows, as_workbook(content), "xlsx"))
    folder = tempfile.mkdtemp(prefix="import-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    figures = []
    try:
        for label, rows, content, fmt in cases:
            imported, report = time_import(fresh_database(folder, f"import-{len(label)}.db", files), content, fmt)
            same = next((f for f in figures if f["rows"] == rows), None)  # the same rows' bare insert, from CSV
            bare = (same["bare_s"], same["bare_cpu_s"]) if same else \
                time_insert_all(fresh_database(folder, f"bare-{len(label)}.db", files), report)
            figures.append({"label": label, "rows": rows, "format": fmt, "households": report["add"],
                            "skipped": len(report["skipped"]),
                            "residents": sum(len(p) for p in report["plan"]["residents"].values()),
                            "import_s": imported[0], "import_cpu_s": imported[1],
                            "bare_s": bare[0], "bare_cpu_s": bare[1]})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return figures


if __name__ == "__main__":
    main()
