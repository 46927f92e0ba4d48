"""Who may see what: one place decides a user's scope (all, a grid, or today's assigned cells)."""
from flask import abort

from fieldapp import rules
from fieldapp.data import cells, households


def cell_scope(db, user):
    """The cell ids user may see, or None for everything (admins)."""
    if user.role == "admin":
        return None
    if user.role == "leader":
        return cells.grid_cell_ids(db, user.grid_id) if user.grid_id else []
    return cells.assigned_cell_ids(db, user.id, rules.iso(rules.utcnow()))


def may_see_cell(db, user, cell_id):
    """Whether cell_id is in user's scope."""
    scope = cell_scope(db, user)
    return scope is None or cell_id in scope


def household_or_404(db, user, household_id):
    """The household if user may see it; otherwise 404, which does not confirm that it exists."""
    household = households.get(db, household_id)
    if household is None or not may_see_cell(db, user, household["cell_id"]):
        abort(404)
    return household


def households_in_scope(db, user, household_ids, cell_ids=None):
    """Those of household_ids (named by a query string, a form or a JSON body) that user may see, and that lie
    in cell_ids when given; the others are dropped unread."""
    scope = cell_scope(db, user)
    if cell_ids is not None:
        scope = [c for c in cell_ids if scope is None or c in scope]
    return households.ids_among(db, household_ids, scope)
