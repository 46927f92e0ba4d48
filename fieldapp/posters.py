"""QR posters (二维码海报): a leader's buildings and village cells, each with the link of its report page and a
printable A4/A5 poster whose QR code (segno, inline SVG) opens it; a poster's token revoked or replaced."""
import segno
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from fieldapp import access, rules
from fieldapp.access import roles_required
from fieldapp.data import reports
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("posters", __name__, url_prefix="/posters")

KINDS = ("building", "cell")
SIZES = ("a4", "a5")


def _place_or_404(db, kind, place_id):
    """The building or cell if it lies in the user's scope; otherwise 404."""
    found = reports.place(db, kind, place_id) if kind in KINDS else None
    if found is None or not access.may_see_cell(db, current_user, found["cell_id"]):
        abort(404)
    return found


@bp.route("/")
@roles_required("leader", "admin")
def index():
    """The buildings and cells of the user's scope, each with its poster (or the button to make it)."""
    db = get_db()
    return render("posters/index.html", cells=reports.places(db, access.cell_scope(db, current_user)))


def qr_svg(url, label):
    """The QR code of url as inline SVG, scaled by its container, named label for screen readers."""
    return Markup(segno.make(url, error="m").svg_inline(scale=1, omitsize=True, title=label, svgclass="qr-code"))


@bp.route("/<kind>/<int:place_id>")
@roles_required("leader", "admin")
def show(kind, place_id):
    """The printable poster of a building or cell (A4, or A5 with ?size=a5)."""
    db = get_db()
    found = _place_or_404(db, kind, place_id)
    if not found["token"]:
        abort(404)
    size = request.args.get("size") if request.args.get("size") in SIZES else "a4"
    url = url_for("report.new", token=found["token"], _external=True)
    return render_template("posters/poster.html", place=found, kind=kind, url=url, size=size,
                           qr=qr_svg(url, _("QR code of the report page for %(place)s", place=found["name"])))


@bp.route("/<kind>/<int:place_id>/replace", methods=["POST"])
@roles_required("leader", "admin")
def replace(kind, place_id):
    """Make the place's poster token, or replace it: the old posters' link stops working."""
    db = get_db()
    found = _place_or_404(db, kind, place_id)
    reports.replace_token(db, kind, place_id, user_id=current_user.id, at=rules.iso(rules.utcnow()))
    flash(_("New poster made for %(place)s: print it and put it up; the old poster no longer works.", place=found["name"])
          if found["token"] else _("Poster made for %(place)s.", place=found["name"]), "info")
    return redirect(url_for("posters.index", _anchor=f"{kind}-{place_id}"))


@bp.route("/<kind>/<int:place_id>/revoke", methods=["POST"])
@roles_required("leader", "admin")
def revoke(kind, place_id):
    """Revoke the place's poster token: its link answers "not found" until a new poster is made."""
    db = get_db()
    found = _place_or_404(db, kind, place_id)
    reports.revoke_token(db, kind, place_id, user_id=current_user.id, at=rules.iso(rules.utcnow()))
    flash(_("The poster of %(place)s no longer works.", place=found["name"]), "info")
    return redirect(url_for("posters.index", _anchor=f"{kind}-{place_id}"))


@bp.route("/make-missing", methods=["POST"])
@roles_required("leader", "admin")
def make_missing():
    """Make a poster for every building of the user's scope that has none."""
    db = get_db()
    made = reports.make_missing_tokens(db, access.cell_scope(db, current_user), user_id=current_user.id,
                                       at=rules.iso(rules.utcnow()))
    flash(_("Posters made: %(n)d.", n=made), "info")
    return redirect(url_for("posters.index"))
