"""Jinja2 set-up: the template folder, filters for money, dates and ratings, and page helpers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import redis
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.request import Request

from .sessions import cart_count, has_session

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}


def to_decimal(value: Any) -> Decimal | None:
    """A Decimal from the API's decimal strings (never through float)."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Any, currency: str | None = "USD") -> str:
    """``"12.5", "USD"`` -> ``"$12.50"``; unknown currencies as ``"12.50 CHF"``."""
    amount = to_decimal(value)
    if amount is None:
        return ""
    text = f"{amount.quantize(Decimal('0.01')):,.2f}"
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{symbol}{text}" if symbol else f"{text} {code}".strip()


def rating(value: Any) -> str:
    """Average rating as text with one decimal: ``"4.25"`` -> ``"4.3"``."""
    amount = to_decimal(value)
    if amount is None:
        return "0.0"
    return f"{amount.quantize(Decimal('0.1'))}"


def stars(value: Any) -> Markup:
    """Decorative stars for a rating (the number itself is always printed next to them)."""
    amount = to_decimal(value) or Decimal(0)
    full = int(amount.quantize(Decimal("1")))
    full = max(0, min(5, full))
    return Markup('<span class="stars" aria-hidden="true">{}{}</span>').format("★" * full, "☆" * (5 - full))


def date(value: Any, fmt: str = "%-d %B %Y") -> str:
    """ISO date or date-time strings from the API, shown as ``5 March 2024``."""
    if not value:
        return ""
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(str(value)), dt.time())
        except ValueError:
            return str(value)
    return parsed.strftime(fmt)


def year(value: Any) -> str:
    return str(value)[:4] if value else ""


def query(params: dict[str, Any], **changes: Any) -> str:
    """The query string of ``params`` with ``changes`` applied (None removes a key)."""
    merged = {k: v for k, v in params.items() if v not in (None, "")}
    for key, value in changes.items():
        if value in (None, ""):
            merged.pop(key, None)
        else:
            merged[key] = value
    return urlencode(merged)


def includeme(config: Configurator) -> None:
    config.include("pyramid_jinja2")
    settings = config.get_settings()
    settings.setdefault("jinja2.trim_blocks", "true")
    settings.setdefault("jinja2.lstrip_blocks", "true")
    config.add_jinja2_renderer(".html", settings_prefix="jinja2.")
    config.add_jinja2_search_path("bookstore_web:templates", name=".html")
    config.commit()
    env = config.get_jinja2_environment(".html")
    config.registry["jinja_env"] = env
    env.filters.update(money=money, rating=rating, stars=stars, date=date, year=year)
    env.globals.update(
        query=query, STATUS_LABELS=STATUS_LABELS, page_state=page_state, chrome_urls=chrome_urls, csrf_input=csrf_input
    )


#: display labels only: what may be done with an order comes from the API's ``actions``
STATUS_LABELS = {
    "paid": "Paid — being prepared",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}


FLASH_QUEUES = ("success", "info", "error")

CHROME_ROUTES = (
    "home",
    "books",
    "search_suggest",
    "cart",
    "orders",
    "wishlist",
    "account",
    "staff",
    "logout",
    "login",
    "register",
)
CHROME_STATIC = {
    "site_css": "bookstore_web:static/css/site.css",
    "favicon": "bookstore_web:static/img/favicon.svg",
    "htmx": "bookstore_web:static/vendor/htmx-2.0.11/htmx.min.js",
    "app_js": "bookstore_web:static/js/app.js",
}


def chrome_urls(request: Request) -> dict[str, str]:
    """The links every page's header and footer carry, made once per application mount point.

    They depend only on the routes, the static files' hashes and ``SCRIPT_NAME``; making ~20
    URLs per page view was a fifth of the cost of a cached book page.
    """
    cache = request.registry.setdefault("bookstore_web.chrome_urls", {})
    urls = cache.get(request.script_name)
    if urls is None:
        urls = {name: request.route_path(name) for name in CHROME_ROUTES}
        urls["newest"] = request.route_path("books", _query={"sort": "newest"})
        urls["bestselling"] = request.route_path("books", _query={"sort": "bestselling"})
        urls.update({name: request.static_path(spec) for name, spec in CHROME_STATIC.items()})
        cache[request.script_name] = urls
    return urls


@pass_context
def page_state(context: Context, request: Request) -> dict[str, Any]:
    """What the page chrome shows: the shopper, their cart count and flash messages.

    Never fails: when the session store is down (an error page is being shown)
    the chrome is rendered as for a signed-out shopper. A page shared between
    shoppers is rendered as for a signed-out one, with a slot for the cart count.
    """
    if context.get("shared_fragment"):
        from .pagecache import CART_COUNT_SLOT

        # ``shared_member``: the chrome every signed-in (non-staff) shopper gets, the same for all of them
        user = {"role": "customer"} if context.get("shared_member") else None
        return {"user": user, "is_staff": False, "cart_count": CART_COUNT_SLOT, "flashes": []}
    state: dict[str, Any] = {"user": None, "is_staff": False, "cart_count": 0, "flashes": []}
    if not has_session(request):
        return state
    try:
        user = request.user
        state["user"] = user
        state["is_staff"] = bool(user) and user.get("role") in ("staff", "admin")
        state["cart_count"] = cart_count(request)
        # peek first: popping an empty queue would rewrite the session in Redis on every page view
        state["flashes"] = [
            (queue, message)
            for queue in FLASH_QUEUES
            if request.session.peek_flash(queue)
            for message in request.session.pop_flash(queue)
        ]
    except redis.RedisError:
        pass
    return state


@pass_context
def csrf_input(context: Context, request: Request) -> Markup:
    """The hidden CSRF field every form carries (a slot, in fragments shared between shoppers)."""
    if context.get("shared_fragment"):
        from .pagecache import CSRF_SLOT

        return CSRF_SLOT
    return csrf_field(request)


def render_partial(request: Request, name: str, **values: Any) -> Markup:
    """A template rendered straight through Jinja (for parts of a page; no renderer lookup)."""
    return Markup(request.registry["jinja_env"].get_template(name).render(request=request, **values))  # noqa: S704


def csrf_field(request: Request) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(get_csrf_token(request))
