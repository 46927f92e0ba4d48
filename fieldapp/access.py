"""Who may see what: one place decides a user's scope (all, a grid, or today's assigned cells) and, from it,
which cell, household, request or member a user may open (anything else answers 404), and which roles may open
a view."""
import functools

from flask import abort, current_app
from flask_login import current_user

from fieldapp import rules
from fieldapp.data import cells, coverage, households, ledger, mapdata, users


def cell_scope(db, user):
    """The cell ids user may see, or None for everything (admins)."""
    if user.role == "admin":
        return None
    if user.role == "partner":  # a partner sees what was referred to it, never a cell (see partners.py)
        return []
    if user.role == "leader":
        return cells.grid_cell_ids(db, user.grid_id) if user.grid_id else []
    return cells.assigned_cell_ids(db, user.id, rules.iso(rules.utcnow()))


def may_see_cell(db, user, cell_id):
    """Whether cell_id is in user's scope."""
    return in_scope(cell_scope(db, user), cell_id)


def in_scope(scope, cell_id):
    """Whether cell_id lies in scope, an answer of cell_scope (None: everything): one scope read serves the many
    households of a sync batch."""
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


def cell_or_404(db, user, cell_id):
    """The cell if user may see it (leaders: their grid, members: today's cells); otherwise 404."""
    cell = cells.get(db, cell_id)
    if cell is None or not may_see_cell(db, user, cell_id):
        abort(404)
    return cell


def building_or_404(db, user, building_id):
    """The building (as the map shows it) if it stands in a cell user may see; otherwise 404."""
    building = mapdata.building(db, building_id)
    if building is None or not may_see_cell(db, user, building["cell_id"]):
        abort(404)
    return building


def cells_in_view(db, user, grid_id=None):
    """The cells a page covers: user's scope (None: all), or the grid_id part of it; 404 for a grid out of scope."""
    scope = cell_scope(db, user)
    if grid_id is None:
        return scope
    cell_ids = [c for c in cells.grid_cell_ids(db, grid_id) if scope is None or c in scope]
    if not cell_ids:
        abort(404)
    return cell_ids


def printed_cells(db, user, grid_id=None):
    """The cells a printed checklist covers: a leader's grid, a member's cells, or the grid an admin chose;
    None while an admin has chosen none (the whole district would be hundreds of pages)."""
    scope = cell_scope(db, user)
    if scope is not None:
        return scope
    return cells.grid_cell_ids(db, grid_id) if grid_id is not None else None


def reviewed_member_or_404(db, user, member_id, at):
    """A member whose coverage user may review, with the cells of theirs to show (held at the UTC timestamp at,
    within user's scope); 404 for anyone else: a member reviews only themselves, a leader only their grid's."""
    member = coverage.member(db, member_id)
    if member is None:
        abort(404)
    held = coverage.member_cells(db, member_id, at)
    scope = cell_scope(db, user)
    if user.role == "member" and member_id != user.id:
        abort(404)
    shown = held if scope is None else [c for c in held if c in scope]
    if held and not shown:
        abort(404)
    if not held and user.role != "admin" and member_id != user.id:
        abort(404)
    return member, shown


def member_account_or_404(db, member_id):
    """The account member_id if it is a member's (who can be given cells); otherwise 404."""
    member = users.get(db, member_id)
    if member is None or member["role"] != "member":
        abort(404)
    return member


def request_scope(db, user):
    """The requests user may see: those of user's cells, and for a member also those they are responsible for."""
    return {"cell_ids": cell_scope(db, user), "user_id": user.id if user.role == "member" else None}


def request_or_404(db, user, request_id):
    """The request if user may see it; otherwise 404, which does not confirm that it exists."""
    found = ledger.get(db, request_id)
    if found is None or not may_see_request(db, user, found):
        abort(404)
    return found


def may_see_request(db, user, found):
    """Whether user may see the request found (its cell_id and responsible_user_id): in their cells, or a
    member's own to answer."""
    return may_see_cell(db, user, found["cell_id"]) or (
        user.role == "member" and found["responsible_user_id"] == user.id)
