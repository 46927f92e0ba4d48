"""The one download helper: every export leaves as an attachment no cache keeps, and goes to the audit log."""
import re
from urllib.parse import quote

from flask import current_app, request
from flask_login import current_user

from fieldapp.data import audit
from fieldapp.exports import tables as table_writer
from fieldapp.db import get_db

MIMETYPES = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "geojson": "application/geo+json", "json": "application/json", "pdf": "application/pdf"}
_NOT_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def disposition(filename):
    """Content-Disposition of a download: a plain ASCII filename any browser takes, and the name (RFC 5987)."""
    stem, _dot, extension = filename.rpartition(".")
    fallback = (_NOT_SAFE.sub("_", stem).strip("_-") or "export") + "." + _NOT_SAFE.sub("", extension)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def attachment(content, filename):
    """A file to download: the mimetype its extension names, its Content-Disposition, never cached."""
    response = current_app.response_class(content, mimetype=MIMETYPES[filename.rpartition(".")[2]])
    response.headers["Content-Disposition"] = disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def download(content, filename, *, target_type, detail, action="export", target_id=None):
    """An export as a file to download, written to the audit log first.

    detail says what was exported (scope, period, rows), never personal data; the format is added here.
    """
    audit.log(get_db(), user_id=current_user.id, action=action, target_type=target_type, target_id=target_id,
              detail={"format": filename.rpartition(".")[2], **detail}, ip=request.remote_addr)
    return attachment(content, filename)


def download_tables(name, tables, default, *, target_type, detail, personal=()):
    """Named tables as a download: all of them a workbook (?format=xlsx), or ?table= (else default) as CSV;
    personal names the tables that hold personal data (the audit entry says whether one was taken)."""
    fmt = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    table = request.args["table"] if request.args.get("table") in tables else default
    chosen = dict(tables) if fmt == "xlsx" else {table: tables[table]}
    filename = f"{name}.xlsx" if fmt == "xlsx" else f"{name}-{table}.csv"
    # Plain values: the audit page shows each as it is.
    taken = {"tables": ", ".join(chosen), "rows": sum(len(rows) for _title, _columns, rows in chosen.values()),
             "personal": any(key in personal for key in chosen)}
    return download(table_writer.write(fmt, list(chosen.values())), filename, target_type=target_type,
                    detail={**detail, **taken})


def scope(cell_ids):
    """How an audit entry names an export's scope: "all", or the number of cells."""
    return "all" if cell_ids is None else len(cell_ids)
