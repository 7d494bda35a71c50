"""bench/lighthouse.py reads Lighthouse's JSON report: the scores, the metrics, the audits that
cost points, the median run and the verdict against the targets. The fixture is a real report
(the catalogue page under a busy machine: performance 88 from total blocking time), trimmed to
the categories and the audits they weigh."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = json.loads((Path(__file__).parent / "data" / "lighthouse-catalogue.json").read_text())


@pytest.fixture(scope="module")
def lighthouse():
    spec = importlib.util.spec_from_file_location("bench_lighthouse", ROOT / "bench" / "lighthouse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_of_a_recorded_report(lighthouse):
    summary = lighthouse.summarize(REPORT)
    assert summary["url"] == "http://127.0.0.1:6544/books"
    assert (summary["perf"], summary["a11y"], summary["bp"], summary["seo"]) == (88, 100, 100, 100)
    assert summary["cls"] == 0
    assert summary["tbt_ms"] == 459
    assert summary["lcp_ms"] == pytest.approx(1826.1)
    assert summary["fcp_ms"] == pytest.approx(1279.5)
    # what cost points: the performance metrics below a full score, nothing in the other categories
    assert set(summary["failing"]) == {"first-contentful-paint", "largest-contentful-paint", "total-blocking-time"}
    assert 0 < summary["failing"]["total-blocking-time"] < 1


def test_the_verdict_names_each_missed_target(lighthouse):
    assert lighthouse.misses(lighthouse.summarize(REPORT)) == ["perf 88 < 95"]

    worse = copy.deepcopy(REPORT)
    worse["categories"]["accessibility"]["score"] = 0.96
    worse["audits"]["color-contrast"]["score"] = 0
    worse["audits"]["cumulative-layout-shift"]["numericValue"] = 0.3072
    summary = lighthouse.summarize(worse)
    assert lighthouse.misses(summary) == ["perf 88 < 95", "a11y 96 < 100", "CLS 0.3072 > 0"]
    assert summary["failing"]["color-contrast"] == 0

    better = copy.deepcopy(REPORT)
    better["categories"]["performance"]["score"] = 0.95
    better["audits"]["cumulative-layout-shift"]["numericValue"] = 0.0004  # shown as 0.000: no shift
    assert lighthouse.misses(lighthouse.summarize(better)) == []


def test_a_category_without_a_score_is_a_miss(lighthouse):
    broken = copy.deepcopy(REPORT)
    broken["categories"]["performance"]["score"] = None  # Lighthouse could not measure the page
    broken["audits"]["cumulative-layout-shift"].pop("numericValue")
    broken["runtimeError"] = {"code": "NO_FCP", "message": "The page did not paint any content."}
    summary = lighthouse.summarize(broken)
    assert summary["perf"] is None and summary["cls"] is None
    assert summary["error"] == "The page did not paint any content."
    assert lighthouse.misses(summary) == [
        "error: The page did not paint any content.",
        "perf None < 95",
        "CLS None > 0",
    ]


def test_the_median_run_is_one_real_run(lighthouse):
    runs = []
    for perf, tbt in ((88, 459), (98, 166), (97, 150)):
        report = copy.deepcopy(REPORT)
        report["categories"]["performance"]["score"] = perf / 100
        report["audits"]["total-blocking-time"]["numericValue"] = tbt
        runs.append(lighthouse.summarize(report))
    median = lighthouse.median_run(runs)
    assert median is runs[2]  # 88, 97, 98: the middle one, with its own figures
    assert (median["perf"], median["tbt_ms"]) == (97, 150)
    assert lighthouse.median_run(runs[:2])["perf"] == 88  # an even count: the lower middle one
    assert lighthouse.median_run(runs[:1]) is runs[0]
    with pytest.raises(ValueError):
        lighthouse.median_run([])


def test_the_table_shows_every_page_with_its_verdict(lighthouse):
    passing = copy.deepcopy(REPORT)
    passing["categories"]["performance"]["score"] = 0.99
    text = lighthouse.table({"catalogue": lighthouse.summarize(REPORT), "home": lighthouse.summarize(passing)})
    header, catalogue, home = text.splitlines()
    assert header.split()[:8] == ["page", "perf", "a11y", "BP", "SEO", "CLS", "TBT", "ms"]
    assert catalogue.split()[:8] == ["catalogue", "88", "100", "100", "100", "0.000", "459", "1826"]
    assert catalogue.endswith("MISS: perf 88 < 95")
    assert home.split()[1] == "99" and home.endswith("PASS")
