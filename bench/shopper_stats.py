"""The arithmetic of the shopper-mix load test, kept apart from the network so it can be tested.

Percentiles, Poisson arrival times, the session mix, the step search over offered load
(double until the latency or error limit is crossed, then bisect), per-step summaries,
and a small SVG line chart of throughput and p99 against offered load.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

#: share of arriving sessions per kind (issue 17: ≈80 % browse/search, ≈15 % cart, ≈5 % checkout)
MIX = {"browse": 0.80, "cart": 0.15, "checkout": 0.05}


def percentile(samples: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; None when empty."""
    if not samples:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def arrival_times(rate: float, seconds: float, rng: random.Random) -> list[float]:
    """Poisson arrivals: start offsets (seconds) of sessions at ``rate`` per second over ``seconds``.

    Open loop: the schedule is fixed before the step starts and does not wait for responses.
    """
    if rate <= 0:
        return []
    times: list[float] = []
    t = rng.expovariate(rate)
    while t < seconds:
        times.append(t)
        t += rng.expovariate(rate)
    return times


def pick_kind(rng: random.Random, mix: dict[str, float] = MIX) -> str:
    """One session kind, drawn with the mix's weights."""
    kinds = list(mix)
    return rng.choices(kinds, weights=[mix[k] for k in kinds])[0]


@dataclass
class StepSearch:
    """The offered-load schedule: double from ``start`` until a step fails, then bisect.

    A step fails when its p99 exceeds ``p99_limit_ms`` or more than ``error_limit`` of its
    requests fail. After the first failure the search bisects between the highest passing
    and the lowest failing rate ``refinements`` times (or until they are within 10 %).
    """

    start: float
    p99_limit_ms: float = 250.0
    error_limit: float = 0.01
    refinements: int = 2
    max_steps: int = 12
    results: list[tuple[float, bool]] = field(default_factory=list)

    def passed(self, p99_ms: float | None, error_rate: float) -> bool:
        return p99_ms is not None and p99_ms <= self.p99_limit_ms and error_rate <= self.error_limit

    def record(self, rate: float, p99_ms: float | None, error_rate: float) -> bool:
        ok = self.passed(p99_ms, error_rate)
        self.results.append((rate, ok))
        return ok

    @property
    def best_pass(self) -> float | None:
        passing = [rate for rate, ok in self.results if ok]
        return max(passing) if passing else None

    @property
    def lowest_fail(self) -> float | None:
        failing = [rate for rate, ok in self.results if not ok]
        return min(failing) if failing else None

    def next_rate(self) -> float | None:
        """The next rate to offer, or None when the search is done."""
        if not self.results:
            return self.start
        if len(self.results) >= self.max_steps:
            return None
        good, bad = self.best_pass, self.lowest_fail
        if bad is None:
            return good * 2
        if good is None:  # even the first step failed: halve until one passes (within reason)
            smallest = min(rate for rate, _ in self.results)
            return smallest / 2 if smallest / 2 >= self.start / 8 else None
        first_failure = next(i for i, (_, ok) in enumerate(self.results) if not ok)
        refined = len(self.results) - first_failure - 1  # steps run since the first failing one
        if refined >= self.refinements or bad - good <= 0.1 * good:
            return None
        return round((good + bad) / 2, 3)


@dataclass
class Sample:
    """One request: when it started (seconds into the step), its page kind, latency, error (or None)."""

    started: float
    page: str
    latency: float
    error: str | None = None


def summarize(samples: list[Sample], window: tuple[float, float]) -> dict:
    """Requests/s, latency percentiles and errors of the requests started inside ``window``."""
    begin, end = window
    inside = [s for s in samples if begin <= s.started < end]
    seconds = max(end - begin, 1e-9)
    latencies = [s.latency * 1000 for s in inside]
    errors = Counter(s.error for s in inside if s.error)
    per_page: dict[str, dict] = {}
    for page in sorted({s.page for s in inside}):
        own = [s.latency * 1000 for s in inside if s.page == page]
        per_page[page] = {
            "requests": len(own),
            "p50_ms": _round(percentile(own, 50)),
            "p99_ms": _round(percentile(own, 99)),
            "errors": sum(1 for s in inside if s.page == page and s.error),
        }
    count = len(inside)
    return {
        "requests": count,
        "rps": round(count / seconds, 2),
        "p50_ms": _round(percentile(latencies, 50)),
        "p95_ms": _round(percentile(latencies, 95)),
        "p99_ms": _round(percentile(latencies, 99)),
        "errors": sum(errors.values()),
        "error_rate": round(sum(errors.values()) / count, 4) if count else 0.0,
        "errors_by_kind": dict(errors.most_common()),
        "pages": per_page,
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------- the chart


def _ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [round(step * i, 10) for i in range(int(math.ceil(top / step)) + 1)]


def _label(value: float) -> str:
    return f"{value:g}"


def line_chart_svg(
    steps: list[dict], p99_limit_ms: float = 250.0, title: str = "Shopper mix through the load balancer"
) -> str:
    """Throughput (req/s, left axis) and p99 latency (ms, right axis) against offered sessions/s.

    ``steps`` are dicts with ``offered``, ``rps`` and ``p99_ms``; drawn in offered order.
    """
    width, height = 720, 360
    left, right, top, bottom = 64, 72, 40, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    points = sorted((s for s in steps if s.get("offered") is not None), key=lambda s: s["offered"])
    x_ticks = _ticks(max((s["offered"] for s in points), default=1))
    rps_ticks = _ticks(max((s["rps"] or 0 for s in points), default=1))
    p99_values = [s["p99_ms"] for s in points if s.get("p99_ms") is not None]
    # an overloaded step's p99 can be seconds: cap the axis so the limit stays readable, label the rest
    p99_ticks = _ticks(min(max([*p99_values, p99_limit_ms * 1.2]), p99_limit_ms * 8))

    def x(v: float) -> float:
        return left + plot_w * v / x_ticks[-1]

    def y(v: float, ticks: list[float]) -> float:
        return top + plot_h - plot_h * min(v, ticks[-1]) / ticks[-1]

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="t d" font-family="sans-serif" font-size="12">',
        f'<title id="t">{escape(title)}</title>',
        '<desc id="d">Requests per second (blue, left axis) and 99th percentile latency in milliseconds '
        f"(orange, right axis) against offered sessions per second; the dashed line is the {p99_limit_ms:g} ms "
        "p99 limit.</desc>",
        '<rect width="100%" height="100%" fill="#fff"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for tick in x_ticks:
        out.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_label(tick)}</text>')
    for tick in rps_ticks:
        out.append(
            f'<line x1="{left}" y1="{y(tick, rps_ticks):.1f}" x2="{left + plot_w}" y2="{y(tick, rps_ticks):.1f}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y(tick, rps_ticks) + 4:.1f}" text-anchor="end" fill="#1f5fa8">{_label(tick)}</text>'
        )
    for tick in p99_ticks:
        out.append(
            f'<text x="{left + plot_w + 6}" y="{y(tick, p99_ticks) + 4:.1f}" fill="#c2571a">{_label(tick)}</text>'
        )
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>')
    limit_y = y(p99_limit_ms, p99_ticks)
    out.append(
        f'<line x1="{left}" y1="{limit_y:.1f}" x2="{left + plot_w}" y2="{limit_y:.1f}" stroke="#c2571a" '
        'stroke-dasharray="6 4"/>'
    )
    for key, ticks, colour in (("rps", rps_ticks, "#1f5fa8"), ("p99_ms", p99_ticks, "#c2571a")):
        coords = [(x(s["offered"]), y(s[key], ticks)) for s in points if s.get(key) is not None]
        if coords:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            out.extend(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}"/>' for cx, cy in coords)
    for step in points:  # p99 values above the axis
        if step.get("p99_ms") is not None and step["p99_ms"] > p99_ticks[-1]:
            out.append(
                f'<text x="{x(step["offered"]) - 4:.1f}" y="{top + 14}" text-anchor="end" fill="#c2571a">'
                f"{step['p99_ms']:.0f} ms ↑</text>"
            )
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">offered load (sessions/s)</text>')
    out.append(
        f'<text transform="translate(16 {top + plot_h / 2}) rotate(-90)" text-anchor="middle" '
        'fill="#1f5fa8">requests/s</text>'
    )
    out.append(
        f'<text transform="translate({width - 14} {top + plot_h / 2}) rotate(90)" text-anchor="middle" '
        'fill="#c2571a">p99 latency (ms)</text>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the capacity model (docs/capacity.md)

#: vCPUs of the instance types in inventories/*/group_vars (t3: burstable, 20 % baseline per vCPU)
INSTANCE_VCPUS = {"t3.small": 2, "t3.medium": 2}
#: page kinds without a run of their own, costed like the nearest measured one
FALLBACK_PAGE = {"login_form": "home", "checkout_form": "cart", "order": "cart", "other": "home"}


def weighted_cpu_ms(page_costs: dict[str, dict[str, float]], page_counts: dict[str, int]) -> dict[str, float]:
    """CPU ms per request of each process group, averaged over the mix's page kinds by their request counts."""
    counted = {
        page: n for page, n in page_counts.items() if (page in page_costs or FALLBACK_PAGE.get(page) in page_costs)
    }
    total = sum(counted.values())
    out: dict[str, float] = {}
    for page, n in counted.items():
        cost = page_costs.get(page) or page_costs[FALLBACK_PAGE[page]]
        for group, ms in cost.items():
            out[group] = out.get(group, 0.0) + ms * n / total
    return {group: round(ms, 2) for group, ms in out.items()}


def capacity_model(
    cpu_ms: dict[str, float],
    *,
    shoppers: int = 1000,
    think_seconds: float = 10.0,
    target_utilisation: float = 0.6,
    instance_vcpus: dict[str, int] | None = None,
    redis_commands_per_request: float = 0.0,
    pool_per_api_process: int = 20,
    connections_per_host_extra: int = 2,
    minimum_instances: int = 2,
    spare_instances: int = 1,
) -> dict:
    """Instances per ``shoppers`` concurrent shoppers from CPU ms per request.

    A concurrent shopper asks for a page every ``think_seconds``; the API and storefront
    processes of an instance (one of each per 2 vCPUs) may use ``target_utilisation`` of its
    vCPUs, plus ``spare_instances`` (a rolling deploy takes one host out of the load balancer, and
    a host may fail); at least ``minimum_instances`` (one per availability zone). HAProxy's share is the
    ALB's on AWS and is left out; PostgreSQL and Redis are reported as cores of their own.
    """
    vcpus_of = instance_vcpus or INSTANCE_VCPUS
    rps = shoppers / think_seconds
    app_ms = cpu_ms.get("api", 0.0) + cpu_ms.get("web", 0.0)
    app_cores = rps * app_ms / 1000
    vcpus_needed = app_cores / target_utilisation
    instances = {
        kind: max(minimum_instances, math.ceil(vcpus_needed / vcpus) + spare_instances)
        for kind, vcpus in vcpus_of.items()
    }
    per_instance_connections = {
        kind: (vcpus // 2) * pool_per_api_process + connections_per_host_extra for kind, vcpus in vcpus_of.items()
    }
    return {
        "shoppers": shoppers,
        "think_seconds": think_seconds,
        "requests_per_second": round(rps, 1),
        "app_cpu_ms_per_request": round(app_ms, 2),
        "app_cores": round(app_cores, 2),
        "vcpus_at_target": round(vcpus_needed, 2),
        "instances": instances,
        "processes_per_instance": {kind: vcpus for kind, vcpus in vcpus_of.items()},
        "postgres_cores": round(rps * cpu_ms.get("postgres", 0.0) / 1000, 3),
        "redis_cores": round(rps * cpu_ms.get("redis", 0.0) / 1000, 3),
        "redis_commands_per_second": round(rps * redis_commands_per_request),
        "postgres_connections": {kind: instances[kind] * per_instance_connections[kind] for kind in vcpus_of},
    }
