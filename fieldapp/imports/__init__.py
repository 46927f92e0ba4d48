"""Imports of cells, buildings and households from GeoJSON, CSV (any encoding) or .xlsx, all or nothing.

`readers` turns a file's bytes into numbered records (GeoJSON checked with the geojson library), `sources`
says what each kind reads, `parsing` and `placing` are what the planners share, `cells`, `buildings` and
`households` plan one kind each, `plan` previews and commits, and `problems` words what was found.
The admin pages and `fieldapp import` call preview() and commit().
"""
from fieldapp.imports.plan import PLANNERS, commit, preview
from fieldapp.imports.readers import LIMIT_MB
from fieldapp.imports.sources import CRS, FORMATS, KINDS

__all__ = ["CRS", "FORMATS", "KINDS", "LIMIT_MB", "PLANNERS", "commit", "preview"]
