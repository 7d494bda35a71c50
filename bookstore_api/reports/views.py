"""Report endpoints (staff): JSON, or CSV with ``Accept: text/csv``."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from bookstore_core.csvsafe import csv_document

from ..http.helpers import query_params
from .services import MAX_DAYS, MAX_TOP_DAYS, ReportService, parse_period

CSV_TYPE = "text/csv"


def wants_csv(request: Request) -> bool:
    """True when the client prefers CSV to JSON (``Accept: text/csv``)."""
    offers = request.accept.acceptable_offers(["application/json", CSV_TYPE])
    return bool(offers) and offers[0][0] == CSV_TYPE


def csv_response(name: str, header: list[str], rows: list[list]) -> Response:
    response = Response(body=csv_document(header, rows), content_type=CSV_TYPE, charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _period(params: dict, max_days: int):
    return parse_period(params.get("from"), params.get("to"), max_days)


@view_config(route_name="api.reports.sales", request_method="GET", renderer="json", permission="staff", openapi=True)
def sales(request: Request):
    params = query_params(request)
    group = params.get("group") or "day"
    report = request.find_service(ReportService).sales(_period(params, MAX_DAYS[group]), group)
    if wants_csv(request):
        rows = [[p["start"], p["end"], p["orders"], p["revenue"], p["average_order_value"]] for p in report["periods"]]
        return csv_response(
            f"sales-{report['from']}-{report['to']}",
            ["start", "end", "orders", f"revenue ({report['currency']})", "average_order_value"],
            rows,
        )
    return report


def _top(request: Request, kind: str):
    params = query_params(request)
    by = params.get("by") or "revenue"
    limit = int(params.get("limit") or 10)
    service = request.find_service(ReportService)
    period = _period(params, MAX_TOP_DAYS)
    report = service.top_books(period, by, limit) if kind == "books" else service.top_genres(period, by, limit)
    if wants_csv(request):
        currency = report["currency"]
        if kind == "books":
            header = ["rank", "book_id", "isbn", "title", "units", f"revenue ({currency})"]
            rows = [
                [i, it["book_id"], it["isbn"], it["title"], it["units"], it["revenue"]]
                for i, it in enumerate(report["items"], 1)
            ]
        else:
            header = ["rank", "genre", "name", "units", f"revenue ({currency})"]
            rows = [[i, it["slug"], it["name"], it["units"], it["revenue"]] for i, it in enumerate(report["items"], 1)]
        return csv_response(f"top-{kind}-{report['from']}-{report['to']}", header, rows)
    return report


@view_config(
    route_name="api.reports.top_books", request_method="GET", renderer="json", permission="staff", openapi=True
)
def top_books(request: Request):
    return _top(request, "books")


@view_config(
    route_name="api.reports.top_genres", request_method="GET", renderer="json", permission="staff", openapi=True
)
def top_genres(request: Request):
    return _top(request, "genres")


@view_config(route_name="api.reports.stock", request_method="GET", renderer="json", permission="staff", openapi=True)
def stock(request: Request):
    params = query_params(request)
    report = request.find_service(ReportService).stock(int(params.get("days") or 90), int(params.get("limit") or 20))
    if wants_csv(request):
        currency = report["currency"]
        header = [
            "book_id",
            "isbn",
            "title",
            "stock_quantity",
            f"stock_value ({currency})",
            f"units_sold_last_{report['slow_mover_days']}_days",
        ]
        rows = [
            [m["book_id"], m["isbn"], m["title"], m["stock_quantity"], m["stock_value"], m["units_sold"]]
            for m in report["slow_movers"]
        ]
        return csv_response("slow-movers", header, rows)
    return report
