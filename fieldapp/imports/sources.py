"""What each kind of import reads: the formats it takes, its columns under every name a file may give them,
and a file's records, refused when a column the kind needs is missing."""
from fieldapp.imports import readers
from fieldapp.imports.problems import Refused, problem

KINDS = ("cells", "buildings", "households")
FORMATS = {"cells": ("json",), "buildings": ("json", "csv", "xlsx"), "households": ("json", "csv", "xlsx")}
CRS = ("wgs84", "gcj02")


def _aliases(table):
    """Map every accepted column name (normalised) to its canonical name."""
    return {readers.normalise_header(alias): canonical for canonical, names in table.items()
            for alias in (canonical, *names)}


_ID = ("id", "code", "编号", "编码", "代码")
ALIASES = {
    "cells": _aliases({"external_id": (*_ID, "cell_code", "网格编码", "微网格编码"),
                       "name": ("name:zh", "名称", "微网格", "微网格名称"),
                       "grid_code": ("grid", "网格", "网格编码"), "grid_name": ("网格名称",),
                       "label_placement": ()}),
    "buildings": _aliases({"external_id": (*_ID, "楼栋编号"), "name": ("name:zh", "名称", "楼栋", "楼栋名称"),
                           "kind": ("类型",), "kind_detail": (), "longitude": ("lon", "lng", "x", "经度"),
                           "latitude": ("lat", "y", "纬度"), "cell_code": ("cell", "微网格"),
                           "part_of": ("root_id",), "label_placement": ()}),
    "households": _aliases({"external_id": (*_ID, "户编号", "住户编号"),
                            "building": ("building_external_id", "building_id", "楼栋", "楼栋编号"),
                            "unit": ("单元",), "room": ("室", "房号", "门牌号"), "address": ("地址", "住址"),
                            "longitude": ("lon", "lng", "x", "经度"), "latitude": ("lat", "y", "纬度"),
                            "occupancy": ("居住状态",), "cell_code": ("cell", "微网格"),
                            "resident_name": ("name", "姓名", "居民"), "resident_phone": ("phone", "电话", "手机", "联系电话"),
                            "resident_tags": ("tags", "标签"), "residents": ()}),
}
RESIDENT_SHEET = (("residents", "居民"), _aliases({"household": ("external_id", "户编号", "住户编号"),
                                                 "resident_name": ("name", "姓名"),
                                                 "resident_phone": ("phone", "电话", "手机", "联系电话"),
                                                 "resident_tags": ("tags", "标签")}))
REQUIRED = {"buildings": ("external_id", "longitude", "latitude"), "households": ("external_id", "address")}


def read(kind, content, filename):
    """The records of a file for kind; a file that cannot be read raises Refused."""
    fmt = readers.detect_format(content, filename)
    if fmt not in FORMATS[kind]:
        allowed = " / ".join(FORMATS[kind])
        raise Refused(problem("wrong_format", kind=kind, actual=fmt, allowed=allowed if kind != "cells" else "json"))
    extras = {}
    if fmt == "json":
        records, columns, notes = readers.read_geojson(content, ALIASES[kind])
    elif fmt == "csv":
        records, columns, notes = readers.read_csv(content, ALIASES[kind])
    else:
        records, columns, extras, notes = readers.read_xlsx(
            content, ALIASES[kind], [RESIDENT_SHEET] if kind == "households" else [])
    if fmt != "json":
        for column in REQUIRED.get(kind, ()):
            if column not in columns:
                raise Refused(problem("missing_column", column=column))
        if kind == "households" and "building" not in columns and "longitude" not in columns:
            raise Refused(problem("missing_column", column="building / longitude, latitude"))
    return {"format": fmt, "records": records, "columns": columns, "notes": notes, "extras": extras}
