"""The monthly report (月度工作报告) of a grid or the community: the page, its print view, its PDF (WeasyPrint)
and its Excel file, every one from the same figures (fieldapp/figures.monthly). Leaders report on their grid, admins
on the community or any grid; members have their own service record instead."""
import ctypes.util
import importlib.util

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from fieldapp import access, coverage, figures, inputs
from fieldapp.access import roles_required
from fieldapp.clock import clock
from fieldapp.data import charts as chart_data
from fieldapp.db import get_db
from fieldapp.exports import downloads, tables as table_writer
from fieldapp.templating import render

bp = Blueprint("reports", __name__, url_prefix="/reports")

# What a machine without WeasyPrint's system libraries needs (Debian's names).
PDF_PACKAGES = "apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk"
_pdf_engine = {}


def pdf_possible():
    """Whether WeasyPrint and its system libraries are on this machine, without loading them (a page only says
    so; importing WeasyPrint takes seconds)."""
    if "html" in _pdf_engine:
        return _pdf_engine["html"] is not None
    return importlib.util.find_spec("weasyprint") is not None and all(
        ctypes.util.find_library(name) for name in ("pango-1.0", "pangoft2-1.0"))


def pdf_engine():
    """WeasyPrint's HTML class, or None when its system libraries (pango) are missing: an import that fails, or
    an OSError when it first loads them."""
    if "html" not in _pdf_engine:
        try:
            from weasyprint import HTML
        except (ImportError, OSError):
            HTML = None
        _pdf_engine["html"] = HTML
    return _pdf_engine["html"]


def _scope(db):
    """The report's cells (None: the community) and the name of its scope, from ?grid= within the user's scope."""
    grid_id = inputs.record_id(request.args.get("grid"))
    if grid_id is None and current_user.role == "leader":
        grid_id = current_user.grid_id
    cell_ids = access.cells_in_view(db, current_user, grid_id) if grid_id is not None else \
        access.cell_scope(db, current_user)
    grid = chart_data.grid(db, grid_id) if grid_id is not None else None
    return cell_ids, grid


def _report(db):
    """(figures, context, notice): the report the query string asks for; a month it cannot cover gives a notice
    and no figures."""
    now = clock(db)
    cell_ids, grid = _scope(db)
    raw = request.args.get("month") or figures.default_month(db, now)
    context = {"grid": grid, "month_asked": raw, "months": figures.recent_report_months(db, now),
               "args": {k: v for k, v in {"grid": grid and grid["id"], "month": raw}.items() if v}}
    try:
        first, last = figures.report_month(db, now, raw)
    except figures.BadMonth as error:
        return None, context, str(error)

    def checklist(period):
        grids = coverage.report(db, now, period, cell_ids)
        return {key: sum(g[key] for g in grids) for key in coverage.COUNTED}

    return figures.monthly(db, now, first, last, cell_ids, checklist), context, None


@bp.route("/monthly")
@roles_required("leader", "admin")
def monthly():
    """The monthly report's page, with the links to its PDF and Excel file."""
    report, context, notice = _report(get_db())
    return render("reports/monthly.html", report=report, notice=notice, pdf_missing=not pdf_possible(),
                  packages=PDF_PACKAGES, status=200 if report else 400, **context)


@bp.route("/monthly/print")
@roles_required("leader", "admin")
def print_view():
    """The report as one printable page (what the PDF is made of; the browser prints it where WeasyPrint cannot)."""
    report, context, notice = _report(get_db())
    if report is None:
        return render("reports/monthly.html", report=None, notice=notice, pdf_missing=not pdf_possible(),
                      packages=PDF_PACKAGES, status=400, **context)
    return render("reports/print.html", report=report, **context)


def _name(report, grid):
    return f"monthly-report-{report['month']}" + (f"-{grid['code']}" if grid else "")


def _detail(report, grid):
    """What the audit entry says was exported: the month and the scope, nothing personal."""
    return {"month": report["month"], "scope": grid["code"] if grid else "all"}


@bp.route("/monthly.pdf")
@roles_required("leader", "admin")
def pdf():
    """The report as a PDF (A4, the CJK fonts of the machine), audited as every download is."""
    report, context, notice = _report(get_db())
    html = pdf_engine()
    if report is None or html is None:
        return render("reports/monthly.html", report=report, notice=notice, pdf_missing=html is None,
                      packages=PDF_PACKAGES, status=400 if report is None else 503, **context)
    page = render_template("reports/print.html", report=report, for_pdf=True, **context)
    content = html(string=page, base_url=request.url_root).write_pdf()
    return downloads.download(content, _name(report, context["grid"]) + ".pdf", target_type="monthly_report",
                              detail=_detail(report, context["grid"]))


def excel_tables(report):
    """The report as tables (title, columns, rows) for the workbook, one sheet each; the same numbers as the page."""
    text, whole, ratio = "text", "int", "text"
    c, v = report["coverage"], report["vulnerable"]
    summary = (_("Summary"), [(_("Figure"), text), (_("Value"), text)], [
        (_("Month"), report["month"]), (_("Households"), c["households"]), (_("Contacted"), c["visited"]),
        (_("Attempted, not reached"), c["attempted"]), (_("Contacted share"), c["contacted_percent"]),
        (_("Attempted share"), c["attempted_percent"]), (_("Vulnerable households"), v["households"]),
        (_("Visited in their cycle"), v["visited"]), (_("Share"), v["percent"]),
        (_("Requests raised"), report["raised"]),
        (_("Satisfied"), report["satisfaction"]["satisfied"]),
        (_("Not satisfied"), report["satisfaction"]["not_satisfied"])])
    grouped = [(title, [(head, text), (_("Requests"), whole)], rows) for title, head, rows in (
        (_("By channel"), _("Channel"), report["by_channel"]), (_("By category"), _("Category"), report["by_category"]),
        (_("By status"), _("Status"), report["by_status"]))]
    overdue = (_("Overdue"), [(_("Request"), whole), (_("Category"), text), (_("Place"), text),
                              (_("Responsible"), text), (_("Due date"), "date"), (_("Days late"), whole)],
               [(r["id"], r["category"], r["place"], r["responsible"], r["due_date"], r["days_late"])
                for r in report["overdue"]])
    referrals = (_("Referrals"), [(_("Platform"), text), (_("Referred"), whole), (_("Accepted by the platform"), whole),
                                  (_("Answered"), whole), (_("Handed back"), whole)],
                 [(r["platform"], r["referred"], r["accepted"], r["answered"], r["handed_back"])
                  for r in report["referrals"]])
    buildings = (_("Issues by building"), [(_("Building"), text), (_("Category"), text), (_("Requests"), whole)],
                 [(r["building"], r["category"], r["n"]) for r in report["buildings"]])
    resolution = (_("Time to resolve"), [(_("Category"), text), (_("Resolved"), whole), (_("Median days"), ratio),
                                         (_("90th percentile days"), ratio), (_("Resolved in time"), ratio)],
                  report["resolution"])
    charts = [(chart["title"], [(column, text) for column in chart["columns"]], chart["rows"])
              for chart in report["charts"]]
    return [summary, *grouped, overdue, referrals, buildings, resolution, *charts]


@bp.route("/monthly.xlsx")
@roles_required("leader", "admin")
def excel():
    """The report as an Excel workbook, audited as every download is."""
    report, context, notice = _report(get_db())
    if report is None:
        return render("reports/monthly.html", report=None, notice=notice, pdf_missing=not pdf_possible(),
                      packages=PDF_PACKAGES, status=400, **context)
    return downloads.download(table_writer.write("xlsx", excel_tables(report)),
                              _name(report, context["grid"]) + ".xlsx", target_type="monthly_report",
                              detail=_detail(report, context["grid"]))
