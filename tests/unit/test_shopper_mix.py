"""The shopper-mix load test's own logic: percentiles, arrivals, the mix, the step search, the chart."""

from __future__ import annotations

import random
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from shopper_mix import page_kind
from shopper_stats import (
    MIX,
    Sample,
    StepSearch,
    arrival_times,
    capacity_model,
    line_chart_svg,
    percentile,
    pick_kind,
    summarize,
    weighted_cpu_ms,
)


def test_percentile_interpolates_between_ranks():
    samples = list(range(1, 101))  # 1..100
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile(samples, 100) == 100
    assert percentile(samples, 0) == 1
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) is None
    # order of the input does not matter
    shuffled = samples[:]
    random.Random(3).shuffle(shuffled)
    assert percentile(shuffled, 95) == percentile(samples, 95)
    with pytest.raises(ValueError, match="outside"):
        percentile(samples, 101)


def test_p99_sees_a_slow_tail_the_median_hides():
    samples = [10.0] * 980 + [900.0] * 20
    assert percentile(samples, 50) == 10.0
    assert percentile(samples, 99) == 900.0


def test_arrivals_are_open_loop_poisson_at_the_offered_rate():
    rng = random.Random(1)
    times = arrival_times(5.0, 400.0, rng)
    assert times == sorted(times)
    assert all(0 <= t < 400 for t in times)
    assert len(times) / 400 == pytest.approx(5.0, rel=0.05)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.2, rel=0.05)
    assert arrival_times(0, 10, rng) == []
    # the schedule depends only on the seed, never on how fast the shop answers
    assert arrival_times(3.0, 20.0, random.Random(9)) == arrival_times(3.0, 20.0, random.Random(9))


def test_session_mix_follows_the_issue_proportions():
    assert sum(MIX.values()) == pytest.approx(1.0)
    rng = random.Random(17)
    draws = [pick_kind(rng) for _ in range(20000)]
    for kind, share in MIX.items():
        assert draws.count(kind) / len(draws) == pytest.approx(share, abs=0.01)
    assert {pick_kind(rng, {"browse": 1.0, "cart": 0.0}) for _ in range(200)} == {"browse"}


def test_step_search_doubles_until_a_failure_then_bisects():
    search = StepSearch(start=1.0, p99_limit_ms=250, error_limit=0.01, refinements=2)
    capacity = 6.0  # p99 crosses the limit above 6 sessions/s
    offered = []
    while (rate := search.next_rate()) is not None:
        offered.append(rate)
        search.record(rate, 100 if rate <= capacity else 400, 0.0)
    assert offered[:4] == [1.0, 2.0, 4.0, 8.0]
    assert offered[4:] == [6.0, 7.0]
    assert search.best_pass == 6.0
    assert search.lowest_fail == 7.0


def test_step_search_fails_a_step_on_errors_or_missing_latencies():
    search = StepSearch(start=2.0)
    assert not search.passed(100, 0.02)  # 2 % errors
    assert not search.passed(None, 0.0)  # nothing answered
    assert not search.passed(251, 0.0)
    assert search.passed(250, 0.01)


def test_step_search_halves_when_the_first_step_fails_and_gives_up():
    search = StepSearch(start=4.0)
    seen = []
    while (rate := search.next_rate()) is not None:
        seen.append(rate)
        search.record(rate, 900, 0.0)
    assert seen == [4.0, 2.0, 1.0, 0.5]


def test_summary_counts_only_the_measured_window_and_errors_by_kind():
    samples = [Sample(1.0, "home", 5.0)]  # warm-up: left out
    samples += [Sample(10 + i * 0.1, "book", 0.020) for i in range(97)]
    samples += [Sample(15.0, "checkout", 0.5, "checkout 409"), Sample(16, "cart_add", 0.05, "cart_add timeout")]
    samples += [Sample(17.0, "book", 0.9)]
    result = summarize(samples, (10.0, 30.0))
    assert result["requests"] == 100
    assert result["rps"] == 5.0
    assert result["errors"] == 2
    assert result["error_rate"] == 0.02
    assert result["errors_by_kind"] == {"checkout 409": 1, "cart_add timeout": 1}
    assert result["p50_ms"] == 20.0
    assert result["p99_ms"] > 500
    assert result["pages"]["book"]["requests"] == 98
    assert "home" not in result["pages"]


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/", "home"),
        ("GET", "/books?genre=poetry&sort=newest", "catalogue"),
        ("GET", "/books?q=river", "search"),
        ("GET", "/books/42", "book"),
        ("GET", "/authors/7", "author"),
        ("GET", "/cart", "cart"),
        ("GET", "/orders/12?placed=1", "order"),
        ("POST", "/cart/items", "cart_add"),
        ("POST", "/cart/items/42", "cart_update"),
        ("POST", "/login", "login"),
        ("POST", "/checkout", "checkout"),
        ("GET", "/checkout", "checkout_form"),
    ],
)
def test_requests_are_counted_under_their_page_kind(method, path, kind):
    assert page_kind(method, path) == kind


def test_chart_is_valid_svg_with_both_series(tmp_path):
    steps = [
        {"offered": 1.0, "rps": 6.5, "p99_ms": 120.0},
        {"offered": 4.0, "rps": 25.0, "p99_ms": 210.0},
        {"offered": 2.0, "rps": 13.0, "p99_ms": 150.0},
        {"offered": 8.0, "rps": 31.0, "p99_ms": 1400.0},
    ]
    svg = line_chart_svg(steps, 250)
    path = tmp_path / "chart.svg"
    path.write_text(svg)
    root = ET.parse(path).getroot()  # noqa: S314 - our own output
    ns = {"s": "http://www.w3.org/2000/svg"}
    lines = root.findall("s:polyline", ns)
    assert len(lines) == 2  # throughput and p99
    assert all(len(line.get("points").split()) == 4 for line in lines)
    # points go left to right by offered load
    xs = [float(p.split(",")[0]) for p in lines[0].get("points").split()]
    assert xs == sorted(xs)
    assert root.find("s:title", ns).text
    assert "250 ms" in root.find("s:desc", ns).text
    assert "p99 latency (ms)" in svg


def test_mix_cpu_is_weighted_by_each_page_kinds_requests():
    costs = {
        "book": {"api": 10.0, "web": 4.0},
        "checkout": {"api": 40.0, "web": 10.0},
        "cart": {"api": 6.0, "web": 4.0},
    }
    counts = {"book": 90, "checkout": 10, "order": 0, "unknown_page": 50}
    weighted = weighted_cpu_ms(costs, counts)
    assert weighted == {"api": 13.0, "web": 4.6}  # 0.9*10 + 0.1*40; unmeasured kinds are left out
    assert weighted_cpu_ms(costs, {"order": 4}) == {"api": 6.0, "web": 4.0}  # costed like the cart page


def test_capacity_model_turns_cpu_per_request_into_instances():
    model = capacity_model(
        {"api": 12.0, "web": 8.0, "postgres": 3.0, "haproxy": 1.0},
        shoppers=1000,
        think_seconds=10,
        target_utilisation=0.5,
        instance_vcpus={"small": 2, "large": 8},
        redis_commands_per_request=4,
    )
    assert model["requests_per_second"] == 100
    assert model["app_cpu_ms_per_request"] == 20.0  # HAProxy is the ALB's share, not the instances'
    assert model["app_cores"] == 2.0
    assert model["vcpus_at_target"] == 4.0
    assert model["instances"] == {"small": 3, "large": 2}  # 2 + a spare; never fewer than one per zone
    assert model["postgres_cores"] == 0.3
    assert model["redis_commands_per_second"] == 400
    assert model["postgres_connections"] == {"small": 3 * 22, "large": 2 * (4 * 20 + 2)}
    busier = capacity_model(
        {"api": 12.0, "web": 8.0}, shoppers=5000, think_seconds=5, target_utilisation=0.5, instance_vcpus={"small": 2}
    )
    assert busier["instances"] == {"small": 21}  # 1000 req/s x 20 ms = 20 cores, 40 vCPUs at 50 %, + 1


def test_chart_caps_the_latency_axis_and_labels_what_is_above_it():
    steps = [{"offered": 1.0, "rps": 7.0, "p99_ms": 180.0}, {"offered": 8.0, "rps": 44.0, "p99_ms": 6267.0}]
    svg = line_chart_svg(steps, 250)
    assert "6267 ms ↑" in svg
    assert ">2000<" in svg and ">6000<" not in svg  # the axis stops at 8 × the limit
