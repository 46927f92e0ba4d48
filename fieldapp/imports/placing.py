"""Place points in cells: the cells holding each point, found with an STRtree over the cells' polygons."""
import json

import numpy as np
import shapely
from shapely.geometry import shape

from fieldapp.imports.parsing import shown
from fieldapp.imports.problems import at


class CellLocator:
    """Find the cells containing points, with an STRtree over the cells' polygons."""

    def __init__(self, cells):
        """Index the cells' polygons."""
        self.cells = cells
        self.tree = shapely.STRtree([shape(json.loads(c["geometry"])) for c in cells])

    def locate(self, points):
        """For each (lon, lat), the list of cells whose polygon (border included) holds it."""
        found = [[] for _ in points]
        if not points or not self.cells:
            return found
        array = np.asarray(points, dtype=float)
        geoms = shapely.points(array[:, 0], array[:, 1])
        point_index, cell_index = self.tree.query(geoms, predicate="intersects")
        for p, c in zip(point_index.tolist(), cell_index.tolist()):
            found[p].append(self.cells[c])
        return found

    def place(self, records, points, hints, report, field="geometry"):
        """The cell of each point: one cell, a hinted cell on a border, or None after an error or a skip."""
        placed = []
        located = self.locate(points)
        outside = [i for i, cells in enumerate(located) if not cells]
        swapped = self.locate([(points[i][1], points[i][0]) for i in outside]) if outside else []
        swapped_in = {i: bool(cells) for i, cells in zip(outside, swapped)}
        for i, (record, point, hint, cells) in enumerate(zip(records, points, hints, located)):
            codes = [c["code"] for c in cells]
            if not cells:
                if swapped_in.get(i):
                    report["errors"].append(at(record, "swapped", field, lon=shown(point[0]), lat=shown(point[1])))
                else:
                    report["skipped"].append(at(record, "outside", lon=shown(point[0]), lat=shown(point[1])))
                placed.append(None)
            elif hint and hint in codes:
                placed.append(cells[codes.index(hint)])
            elif hint:
                report["errors"].append(at(record, "other_cell", "cell_code", found=" / ".join(codes), given=hint))
                placed.append(None)
            elif len(cells) > 1:
                report["errors"].append(at(record, "border", field, cells=", ".join(sorted(codes))))
                placed.append(None)
            else:
                placed.append(cells[0])
        return placed
