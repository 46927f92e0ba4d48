"""Who may see what: one place decides a user's scope (all, a grid, or today's assigned cells) and which
roles may open a view."""
import functools

from flask import abort, current_app
from flask_login import current_user

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


def roles_required(*roles):
    """Allow the view only to signed-in users with one of roles (others get 403)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
