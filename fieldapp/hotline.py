"""Hotline work orders (12345 / 市民热线): the leader or the admin enters an order or imports a batch (preview, then
all or nothing), each becomes a ledger request whose due date is the order's own deadline; the replies go back per
order number as CSV or Excel.

Members do not enter orders: an order reaches the community office, and the office gives it to the cell's member
(who is made responsible for the request it becomes)."""
import secrets
import uuid as uuidlib
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fieldapp import access, rules
from fieldapp.access import roles_required
from fieldapp.data import audit, geodata, hotline
from fieldapp.data import requests as request_data
from fieldapp.db import get_db
from fieldapp.exports import downloads, tables
from fieldapp.imports import LIMIT_MB
from fieldapp.imports import hotline as orders
from fieldapp.imports.problems import describe, where
from fieldapp.templating import render

bp = Blueprint("hotline", __name__, url_prefix="/hotline")
SHOWN = 500  # errors listed on the preview page; the rest are counted
# The hotline's words for a request's status in the file it takes back.
HOTLINE_STATUS = {"open": "待办理", "in_progress": "办理中", "resolved": "已办结", "closed": "已办结（已回访）"}
TEMPLATE_ROW = ("12345-20261201-0001", "2026-12-01 09:30", "2026-12-04 17:30", "12345", "市容环境", "",
                "楼道灯不亮，请尽快维修", "3号楼", "2", "301")


@bp.url_value_preprocessor
def allow_large_uploads(endpoint, values):
    """Raise the upload limit for a batch of orders, before CSRF protection reads the form."""
    if endpoint == "hotline.upload":
        request.max_content_length = LIMIT_MB * 1024 * 1024


def _zone():
    return ZoneInfo(current_app.config["TIMEZONE"])


@bp.route("/")
@roles_required("leader", "admin")
def index():
    """The orders of the user's grid (the admin's district), the nearest deadline first, with entry and import."""
    db = get_db()
    return render("hotline/index.html", orders=hotline.listing(db, access.cell_scope(db, current_user)),
                  today=rules.today(_zone()).isoformat(), error=None, limit=LIMIT_MB)


def _worded(errors):
    """Problems by field, in the reader's language."""
    return {field: describe(found) for field, found in errors.items()}


@bp.route("/new", methods=["GET", "POST"])
@roles_required("leader", "admin")
def new():
    """Enter one order: it becomes a request with channel 'hotline', due on the order's deadline."""
    db = get_db()
    categories = request_data.categories(db)
    errors, form = {}, request.form
    if request.method == "POST":
        order, errors = orders.check_order(form, categories=categories, tz=_zone(), now=rules.utcnow())
        try:
            order["uuid"] = str(uuidlib.UUID(form.get("uuid", "")))
        except ValueError:
            order["uuid"] = str(uuidlib.uuid4())
        if not {"building", "room"} & set(errors):
            errors.update({field: found for field, found in
                           orders.place(db, access.cell_scope(db, current_user), [order]).values()})
        if not errors:
            try:
                [(created, request_id)] = hotline.take_over(db, [order], user_id=current_user.id,
                                                            at=rules.iso(rules.utcnow()))
            except hotline.DuplicateOrder as duplicate:
                errors["order_no"] = {"code": "order_exists", "params": {"value": duplicate.order_no,
                                                                          "request": duplicate.request_id}}
            else:
                flash(_("Hotline order %(no)s entered in the ledger.", no=order["order_no"]) if created
                      else _("This order was already entered."), "info")
                return redirect(url_for("ledger.show", request_id=request_id), code=303)
    return render("hotline/new.html", categories=categories, errors=_worded(errors), form=form,
                  uuid=form.get("uuid") or str(uuidlib.uuid4()), status=422 if errors else 200)


@bp.route("/import", methods=["POST"])
@roles_required("leader", "admin")
def upload():
    """Keep an uploaded batch of orders server-side under a random token and show its preview."""
    file = request.files.get("file")
    db = get_db()
    if file is None or not file.filename:
        return render("hotline/index.html", orders=hotline.listing(db, access.cell_scope(db, current_user)),
                      today=rules.today(_zone()).isoformat(), error=_("Choose a file to import."), limit=LIMIT_MB,
                      status=422)
    token = secrets.token_urlsafe(16)
    geodata.save_upload(db, token=token, user_id=current_user.id, kind=orders.KIND, crs="wgs84",
                        filename=file.filename[:200], content=file.read())
    return redirect(url_for("hotline.preview", token=token), code=303)


def _preview(token):
    """The batch with token (this user's only) and its preview against the user's scope, or 404."""
    db = get_db()
    stored = geodata.upload(db, token, current_user.id)
    if stored is None or stored["kind"] != orders.KIND:
        abort(404)
    return stored, orders.preview(db, stored["content"], stored["filename"],
                                  cell_ids=access.cell_scope(db, current_user),
                                  categories=request_data.categories(db), tz=_zone(), now=rules.utcnow())


def _render_preview(token, stored, report, status=200):
    """The preview page: the orders to add, or the row-level errors, worded in the reader's language."""
    worded = [{"where": where(p), "field": p.get("field") or "", "reason": describe(p)}
              for p in report["errors"][:SHOWN]]
    return render("hotline/preview.html", token=token, upload=stored, report=report, worded=worded, shown=SHOWN,
                  notes=[describe(n) for n in report["notes"]], status=status)


@bp.route("/import/<token>")
@roles_required("leader", "admin")
def preview(token):
    """What importing a batch would do: the orders to add, or why it cannot be imported."""
    stored, report = _preview(token)
    return _render_preview(token, stored, report)


@bp.route("/import/<token>/commit", methods=["POST"])
@roles_required("leader", "admin")
def commit(token):
    """Import the previewed batch in one transaction, or show again why it cannot be."""
    stored, report = _preview(token)
    db = get_db()
    try:
        request_ids = orders.commit(db, report, user_id=current_user.id, at=rules.iso(rules.utcnow()))
    except hotline.DuplicateOrder as duplicate:  # entered meanwhile by someone else
        report["errors"].append({"code": "order_exists", "params": {"value": duplicate.order_no,
                                                                    "request": duplicate.request_id}})
        request_ids = None
    if request_ids is None:
        return _render_preview(token, stored, report, status=422)
    geodata.forget_upload(db, token)
    audit.log(db, user_id=current_user.id, action="import", target_type="hotline",
              detail={"file": stored["filename"], "added": len(request_ids)}, ip=request.remote_addr)
    flash(_("Imported %(n)d hotline orders.", n=len(request_ids)), "info")
    return redirect(url_for("hotline.index"), code=303)


@bp.route("/template.csv")
@roles_required("leader", "admin")
def template():
    """A CSV template for a batch of orders: its columns and one example row."""
    header = ["工单编号", "受理时间", "办理时限", "来源", "原始类别", "类别", "诉求内容", "楼栋", "单元", "室"]
    table = ("工单", [(name, "text") for name in header], [TEMPLATE_ROW])
    return downloads.attachment(tables.write("csv", [table]), "hotline-orders-template.csv")


@bp.route("/replies.<fmt>")
@roles_required("leader", "admin")
def replies(fmt):
    """The replies per order number for the hotline's system to take back (CSV or Excel): order number, status,
    reply and resolved time; the orders answered are marked as sent."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    db = get_db()
    scope = access.cell_scope(db, current_user)
    found = hotline.replies(db, scope)
    tz = _zone()
    table = ("工单答复", [("工单编号", "text"), ("办理状态", "text"), ("答复内容", "text"), ("办结时间", "text")],
             [(o["order_no"], HOTLINE_STATUS[o["status"]], o["resolution"] or o["last_note"] or "",
               rules.parse_iso(o["resolved_at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
               if o["resolved_at"] and o["status"] in ("resolved", "closed") else "") for o in found])
    now = rules.iso(rules.utcnow())
    hotline.mark_exported(db, [o["id"] for o in found if o["status"] in ("resolved", "closed")], now)
    return downloads.download(tables.write(fmt, [table]), f"hotline-replies-{now[:10]}.{fmt}",
                              target_type="hotline_replies",
                              detail={"rows": len(found), "scope": downloads.scope(scope)})
