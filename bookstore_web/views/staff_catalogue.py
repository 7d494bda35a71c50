"""Catalogue import and export in the back-office (staff only).

Importing is two steps. **Upload** (a multipart form, at most 50 MiB): the file
goes to the API as a dry run and the page lists what the import would do and
every bad row. The file waits in Redis (for an hour, for that staff member only)
split into batches of ``BATCH_ROWS`` rows. **Confirm**: each batch is sent to the
API as a real import (each batch commits on its own); one request runs batches
for about ``TIME_BUDGET_SECONDS`` and then shows how far it got, with a button to
go on (with htmx the page goes on by itself). Rows already imported come back
``unchanged`` if a batch is sent again, so an interrupted import is simply
continued. Export streams the API's CSV through.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import secrets
import time
from typing import Any

from pyramid.httpexceptions import HTTPNotFound
from pyramid.request import Request
from pyramid.response import Response

from bookstore_core.redisstore import RedisStore

from ..api import ApiError
from ..auth import current_user
from .staff import staff_view

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: the upload's request may carry the multipart envelope and the form fields besides the file
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
BATCH_ROWS = 2000
TIME_BUDGET_SECONDS = 20.0
STAGED_SECONDS = 3600
DRY_RUN_TIMEOUT_SECONDS = 300.0
BATCH_TIMEOUT_SECONDS = 120.0


def _store(request: Request) -> RedisStore:
    return request.registry["import_store"]


def _keys(request: Request, token: str) -> tuple[str, str]:
    store = _store(request)
    return store.key("web-import", token, "batches"), store.key("web-import", token, "state")


def split_batches(body: bytes, rows_per_batch: int) -> tuple[list[bytes], int]:
    """The CSV as several CSVs of at most ``rows_per_batch`` rows, each with the header; and the row count.

    Records are split as CSV (a quoted cell may hold line breaks), and cells are
    written back exactly as they came.
    """
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
    header = next(reader)
    rows = list(reader)
    batches = []
    for start in range(0, len(rows), rows_per_batch):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows[start : start + rows_per_batch])
        batches.append(out.getvalue().encode())
    return batches, len(rows)


@staff_view(route_name="staff_import", renderer="staff/import.html", request_method="GET")
def import_form(request: Request) -> dict[str, Any]:
    return {"error": None, "max_mib": MAX_UPLOAD_BYTES // (1024 * 1024)}


@staff_view(route_name="staff_import", renderer="staff/import.html", request_method="POST")
def import_upload(request: Request) -> Any:
    """Check an uploaded file with a dry run and keep it for the confirmation."""
    upload = request.POST.get("file")
    data = upload.file.read(MAX_UPLOAD_BYTES + 1) if hasattr(upload, "file") else b""
    problem = None
    if not data:
        problem = "Choose a CSV file to upload."
    elif len(data) > MAX_UPLOAD_BYTES:
        problem = f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB."
    if problem is None:
        try:
            report = request.api.raw(
                "POST",
                "/imports/books",
                params={"dry_run": "true"},
                content=data,
                headers={"Content-Type": "text/csv"},
                timeout=DRY_RUN_TIMEOUT_SECONDS,
            ).json()
        except ApiError as exc:
            if exc.status not in (400, 413, 415):
                raise
            problem = exc.fields.get("body") or exc.message
    if problem is not None:
        request.response.status = 400
        return {"error": problem, "max_mib": MAX_UPLOAD_BYTES // (1024 * 1024)}
    token = None
    if not report["errors"] and report["rows"]:
        token = _stage(request, data, report, getattr(upload, "filename", "") or "catalogue.csv")
    return render_report(request, report, token)


def render_report(request: Request, report: dict, token: str | None) -> Response:
    from pyramid.renderers import render_to_response

    return render_to_response(
        "staff/import_report.html", {"report": report, "token": token, "batch_rows": BATCH_ROWS}, request=request
    )


def _stage(request: Request, data: bytes, report: dict, filename: str) -> str | None:
    batches, rows = split_batches(data, BATCH_ROWS)
    token = secrets.token_urlsafe(18)
    batches_key, state_key = _keys(request, token)
    state = {
        "user": (current_user(request) or {}).get("id"),
        "filename": filename[:200],
        "rows": rows,
        "batches": len(batches),
        "next": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "stock_movements": 0,
    }

    def stage(client):
        pipe = client.pipeline(transaction=True)
        pipe.delete(batches_key)
        pipe.rpush(batches_key, *batches)
        pipe.expire(batches_key, STAGED_SECONDS)
        pipe.set(state_key, json.dumps(state), ex=STAGED_SECONDS)
        return pipe.execute()

    return token if _store(request).call(stage) is not None else None


def _load_state(request: Request, token: str) -> dict:
    _, state_key = _keys(request, token)
    raw = _store(request).call(lambda client: client.get(state_key))
    state = json.loads(raw) if raw else None
    if not state or state.get("user") != (current_user(request) or {}).get("id"):
        raise HTTPNotFound("This import has expired or is not yours; upload the file again.")
    return state


@staff_view(route_name="staff_import_run", renderer="staff/import_progress.html", request_method="POST")
def import_run(request: Request) -> dict[str, Any]:
    """Send the next batches as real imports, for about ``TIME_BUDGET_SECONDS``; show how far it got."""
    token = request.matchdict["token"]
    if not token.replace("-", "").replace("_", "").isalnum() or len(token) > 40:
        raise HTTPNotFound()
    state = _load_state(request, token)
    batches_key, state_key = _keys(request, token)
    store = _store(request)
    started = time.monotonic()
    errors: list[dict] = []
    sent = 0
    # at least one batch per request, then more while the time budget lasts
    while state["next"] < state["batches"] and (sent == 0 or time.monotonic() - started < TIME_BUDGET_SECONDS):
        sent += 1
        index = state["next"]
        batch = store.call(lambda client, index=index: client.lindex(batches_key, index))
        if batch is None:
            raise HTTPNotFound("This import has expired; upload the file again.")
        try:
            result = request.api.raw(
                "POST",
                "/imports/books",
                params={"dry_run": "false"},
                content=batch,
                headers={"Content-Type": "text/csv"},
                timeout=BATCH_TIMEOUT_SECONDS,
            ).json()
        except ApiError as exc:
            if exc.status != 400:
                raise
            offset = index * BATCH_ROWS
            errors = [
                {**error, "row": error["row"] + offset}
                for error in exc.details.get(
                    "errors", [{"row": 1, "field": "file", "code": exc.code, "message": exc.message}]
                )
            ]
            break
        for name in ("created", "updated", "unchanged", "stock_movements"):
            state[name] += int(result.get(name, 0))
        state["next"] = index + 1
        store.call(lambda client: client.set(state_key, json.dumps(state), ex=STAGED_SECONDS))
    done = state["next"] >= state["batches"]
    if done or errors:
        store.call(lambda client: client.delete(batches_key, state_key))
    if done:
        request.session.flash(
            f"Imported {state['rows']:,} rows: {state['created']:,} created, {state['updated']:,} updated, "
            f"{state['unchanged']:,} unchanged.",
            "success",
        )
    rows_done = min(state["next"] * BATCH_ROWS, state["rows"])
    return {"job": state, "token": token, "done": done, "errors": errors, "rows_done": rows_done}


@staff_view(route_name="staff_export", request_method="GET")
def export(request: Request) -> Response:
    """The catalogue's CSV, passed through as the API streams it."""
    upstream = request.api.stream_get("/exports/books", timeout=600.0)

    def body():
        try:
            yield from upstream.iter_bytes()
        finally:
            upstream.close()

    response = Response(content_type="text/csv", charset="utf-8")
    response.app_iter = body()
    response.headers["Content-Disposition"] = 'attachment; filename="catalogue.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def includeme(config) -> None:
    settings = config.get_settings()
    config.registry["import_store"] = RedisStore(config.registry["session_redis"], settings["redis.prefix"])
    config.add_route("staff_import", "/staff/catalogue/import")
    config.add_route("staff_import_run", "/staff/catalogue/import/{token}")
    config.add_route("staff_export", "/staff/catalogue/export.csv")
