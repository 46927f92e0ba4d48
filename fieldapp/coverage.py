"""The grid leader's coverage checklist and dashboard."""
from flask import Blueprint

from fieldapp.web import render, roles_required

bp = Blueprint("coverage", __name__, url_prefix="/coverage")


@bp.route("/")
@roles_required("leader", "admin")
def index():
    """The leader's landing page: coverage of the grid."""
    return render("coverage/index.html")
