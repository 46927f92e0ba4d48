"""Preview and commit an import: read a file, check every row or feature, plan the writes, write them.

preview() writes nothing: it returns what the preview page shows (counts, errors, skipped features,
notes) and the plan that commit() writes in one transaction. Both the admin page and `fieldapp import`
call them, so a file gets the same answer everywhere.
"""
import contextlib
import gc

from fieldapp.data import geodata
from fieldapp.imports import buildings, cells, households, readers, sources
from fieldapp.imports.parsing import converter
from fieldapp.imports.problems import Refused, at, problem

# Each kind's planner fills a preview with its counts, problems and plan; its writer commits the plan.
PLANNERS = {"cells": cells.plan, "buildings": buildings.plan, "households": households.plan}
WRITERS = {"cells": geodata.apply_cells, "buildings": geodata.apply_buildings,
           "households": geodata.apply_households}


def new_report(kind, filename, crs):
    """An empty preview for a file."""
    return {"kind": kind, "filename": filename, "crs": crs, "format": None, "add": 0, "update": 0,
            "unchanged": 0, "errors": [], "skipped": [], "notes": [], "plan": None}


@contextlib.contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector for a block.

    A file of 100,000 rows makes millions of small objects, none in a cycle: the collector would walk them
    all again and again (a third of an import's time), so it waits until the block is done.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def preview(db, kind, content, filename, crs="wgs84"):
    """Read and check a file of kind against the database; return the preview and its plan (writes nothing)."""
    with collector_paused():
        return _preview(db, kind, content, filename, crs)


def _preview(db, kind, content, filename, crs):
    """preview() without the collector's pauses."""
    report = new_report(kind, filename, crs)
    if len(content) > readers.LIMIT_MB * 1024 * 1024:
        report["errors"].append(problem("too_large", size=f"{len(content) / 1048576:.1f}", limit=readers.LIMIT_MB))
        return report
    try:
        source = sources.read(kind, content, filename)
    except Refused as refusal:
        report["errors"].append(refusal.problem)
        return report
    report["format"] = source["format"]
    report["notes"].extend(source["notes"])
    records = source["records"]
    for record in records:
        if record.get("skip"):
            report["skipped"].append(at(record, record["skip"]))
        elif record.get("problem"):
            report["errors"].append(record["problem"])
    wanted = [r for r in records if not r.get("skip") and not r.get("problem")]
    if not wanted:
        report["errors"].append(problem("no_records"))
        return report
    PLANNERS[kind](db, source, wanted, converter(crs), report)
    report["errors"].sort(key=_order)
    report["skipped"].sort(key=_order)
    if report["errors"]:
        report["plan"] = None
    return report


def commit(db, report):
    """Write a preview's plan in one transaction; refuse (return False) when it has errors."""
    if report["errors"] or report["plan"] is None:
        return False
    with collector_paused():
        WRITERS[report["kind"]](db, report["plan"])
    return True


def _order(found):
    """Problems in file order: the file itself first, then by sheet and number."""
    return (found.get("sheet") or "", found.get("n") or 0)
