"""Administration: imports, accounts, assignments, settings."""
from flask import Blueprint

from fieldapp.data import users
from fieldapp.web import get_db, render, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@roles_required("admin")
def index():
    """The admin's landing page: the accounts, with what is still to come."""
    return render("admin/index.html", accounts=users.listing(get_db()))
