"""The member's households: the list in visiting order and each household's page."""
from flask import Blueprint
from flask_login import login_required

from fieldapp.web import render

bp = Blueprint("households", __name__, url_prefix="/households")


@bp.route("/")
@login_required
def mine():
    """The signed-in member's households."""
    return render("households/mine.html")
