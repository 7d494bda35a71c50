"""Lighthouse in a real browser: the storefront's pages scored with mobile defaults, median of 3 runs.

Starts PostgreSQL and Redis (embedded unless BOOKSTORE_DATABASE_URL / BOOKSTORE_REDIS_URL
are set), seeds a demo catalogue with drawn covers, runs ``bookstore serve api`` and
``bookstore serve web`` as their own processes, signs a shopper up and fills a cart, then
runs Lighthouse (npm ``lighthouse``, pinned in tools/lighthouse/package-lock.json and
installed there with ``npm ci`` when missing) with Debian's Chromium over home, catalogue,
search results, book, cart, log-in and checkout. Lighthouse's own mobile defaults are kept:
a Moto G class phone, simulated slow 4G and a 4x slower CPU; the shopper's pages get the
session cookie through ``--extra-headers``.

Each page runs ``--runs`` times; the run with the median performance score is reported
(Lighthouse's own advice for variance). Prints performance / accessibility / best practices
/ SEO scores, cumulative layout shift, total blocking time and largest contentful paint per
page against the targets (performance >= 95, the others 100, CLS 0), with the machine's load
average, and writes bench/results/lighthouse-<UTC time>.json. The exit status is 0 unless
the run itself breaks, or, with ``--strict``, a page misses a target.

    .venv/bin/python bench/lighthouse.py [--runs 3] [--pages home,book] [--web-url http://127.0.0.1:6544]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TOOLS = ROOT / "tools" / "lighthouse"
LIGHTHOUSE = TOOLS / "node_modules" / ".bin" / "lighthouse"
RESULTS = BENCH / "results"
CHROMIUM = os.environ.get("BOOKSTORE_CHROMIUM", "/usr/bin/chromium")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --disable-extensions"

CATEGORIES = {"performance": "perf", "accessibility": "a11y", "best-practices": "bp", "seo": "seo"}
#: the targets of issue 17: performance at least 95, the other categories 100, no layout shift
TARGETS = {"perf": 95, "a11y": 100, "bp": 100, "seo": 100}
PAGES = ("home", "catalogue", "search", "book", "cart", "login", "checkout")
#: the pages seen by the signed-in shopper with a filled cart (the others are anonymous)
SHOPPER_PAGES = {"cart", "checkout"}
SHOPPER_PASSWORD = "a long enough lighthouse password"


# --- reading Lighthouse's JSON (unit-tested against a recorded report) ---------------------------------


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The figures we track from one Lighthouse JSON report (scores 0-100, CLS, TBT and LCP in ms)
    and, for a score below 100, the audits that cost it (id and score)."""
    categories = report["categories"]
    audits = report["audits"]
    summary: dict[str, Any] = {"url": report.get("finalDisplayedUrl") or report.get("finalUrl")}
    for category, short in CATEGORIES.items():
        score = categories[category]["score"]
        summary[short] = None if score is None else round(score * 100)
    summary["cls"] = _numeric(audits, "cumulative-layout-shift")
    summary["tbt_ms"] = _numeric(audits, "total-blocking-time")
    summary["lcp_ms"] = _numeric(audits, "largest-contentful-paint")
    summary["fcp_ms"] = _numeric(audits, "first-contentful-paint")
    failing = {}
    for category in CATEGORIES:
        for ref in categories[category].get("auditRefs", []):
            audit = audits.get(ref["id"], {})
            score = audit.get("score")
            if ref.get("weight", 0) > 0 and score is not None and score < 1:
                failing[ref["id"]] = round(score, 2)
    summary["failing"] = failing
    if report.get("runtimeError"):
        summary["error"] = report["runtimeError"].get("message") or report["runtimeError"].get("code")
    return summary


def _numeric(audits: dict[str, Any], name: str) -> float | None:
    value = audits.get(name, {}).get("numericValue")
    return None if value is None else round(float(value), 4 if name == "cumulative-layout-shift" else 1)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median performance score (the lower middle one of an even count),
    so every figure reported comes from one real run."""
    if not runs:
        raise ValueError("no runs")
    ordered = sorted(runs, key=lambda run: (run["perf"] if run["perf"] is not None else -1, -(run["tbt_ms"] or 0)))
    return ordered[(len(ordered) - 1) // 2]


def misses(summary: dict[str, Any]) -> list[str]:
    """What keeps a page from the targets (empty when it meets all of them)."""
    found = [f"error: {summary['error']}"] if summary.get("error") else []
    found += [
        f"{name} {summary[name]} < {target}"
        for name, target in TARGETS.items()
        if summary.get(name) is None or summary[name] < target
    ]
    if summary.get("cls") is None or round(summary["cls"], 3) > 0:
        found.append(f"CLS {summary.get('cls')} > 0")
    return found


def table(results: dict[str, dict[str, Any]]) -> str:
    header = f"{'page':<11}{'perf':>6}{'a11y':>6}{'BP':>6}{'SEO':>6}{'CLS':>8}{'TBT ms':>8}{'LCP ms':>8}  verdict"
    lines = [header]
    for page, summary in results.items():
        missed = misses(summary)
        lines.append(
            f"{page:<11}{_cell(summary, 'perf', 6)}{_cell(summary, 'a11y', 6)}{_cell(summary, 'bp', 6)}"
            f"{_cell(summary, 'seo', 6)}{_cell(summary, 'cls', 8, '{:.3f}')}{_cell(summary, 'tbt_ms', 8)}"
            f"{_cell(summary, 'lcp_ms', 8)}  " + ("PASS" if not missed else "MISS: " + ", ".join(missed))
        )
    return "\n".join(lines)


def _cell(summary: dict[str, Any], name: str, width: int, fmt: str = "{:.0f}") -> str:
    value = summary.get(name)
    return f"{'-' if value is None else fmt.format(value):>{width}}"


# --- installing and running Lighthouse --------------------------------------------------------------------


def ensure_lighthouse() -> Path:
    """``npm ci`` in tools/lighthouse unless the locked version is already installed (idempotent)."""
    lock = json.loads((TOOLS / "package-lock.json").read_text())
    wanted = lock["packages"]["node_modules/lighthouse"]["version"]
    installed = TOOLS / "node_modules" / "lighthouse" / "package.json"
    if LIGHTHOUSE.exists() and installed.exists() and json.loads(installed.read_text())["version"] == wanted:
        return LIGHTHOUSE
    if not shutil.which("npm"):
        raise SystemExit("lighthouse: npm is missing (./scripts/system-deps.sh installs Node.js and npm)")
    print(f"installing lighthouse {wanted} into {TOOLS.relative_to(ROOT)}/node_modules (npm ci)", flush=True)
    # --ignore-scripts: nothing to build, and no browser download (Debian's Chromium is used)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], cwd=TOOLS, check=True
    )
    return LIGHTHOUSE


def run_lighthouse(url: str, cookie: str | None = None) -> dict[str, Any]:
    """One Lighthouse run (mobile defaults, simulated throttling) of ``url``; its JSON report."""
    with tempfile.TemporaryDirectory(prefix="bookstore-lighthouse-") as work:
        out = Path(work) / "report.json"
        command = [
            str(LIGHTHOUSE),
            url,
            "--output=json",
            f"--output-path={out}",
            "--quiet",
            f"--chrome-flags={CHROME_FLAGS} --user-data-dir={Path(work) / 'profile'}",
            "--only-categories=" + ",".join(CATEGORIES),
            "--max-wait-for-load=60000",
        ]
        if cookie:
            command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
        env = dict(os.environ, CHROME_PATH=CHROMIUM)
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if completed.returncode != 0 or not out.exists():
            raise RuntimeError(f"lighthouse failed on {url}: {completed.stderr.strip()[-2000:]}")
        return json.loads(out.read_text())


# --- the shop ----------------------------------------------------------------------------------------------


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def shopper_cookie(web_url: str, book_id: int) -> str:
    """Sign a new shopper up through the storefront's own forms, put a book in their cart and
    return their session cookie (``name=value``)."""
    import requests

    http = requests.Session()
    http.headers["Origin"] = web_url
    email = f"lighthouse-{int(time.time() * 1000)}@example.com"
    page = http.get(f"{web_url}/register", timeout=30)
    form = {"name": "Lena Lighthouse", "email": email, "password": SHOPPER_PASSWORD, "csrf_token": _csrf(page.text)}
    answer = http.post(f"{web_url}/register", data=form, timeout=30)
    if answer.status_code != 200 or "/login" in answer.url:
        raise RuntimeError(f"could not sign the shopper up ({answer.status_code} at {answer.url})")
    page = http.get(f"{web_url}/books/{book_id}", timeout=30)
    answer = http.post(
        f"{web_url}/cart/items", data={"book_id": book_id, "quantity": 1, "csrf_token": _csrf(page.text)}, timeout=30
    )
    if answer.status_code != 200 or "/cart" not in answer.url:
        raise RuntimeError(f"could not fill the cart ({answer.status_code} at {answer.url})")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in http.cookies)


def page_urls(web_url: str, book_id: int, query: str) -> dict[str, str]:
    return {
        "home": f"{web_url}/",
        "catalogue": f"{web_url}/books",
        "search": f"{web_url}/books?q={query}",
        "book": f"{web_url}/books/{book_id}",
        "cart": f"{web_url}/cart",
        "login": f"{web_url}/login",
        "checkout": f"{web_url}/checkout",
    }


def pick_book(database_url: str) -> tuple[int, str]:
    """A best-selling book with a cover and stock, and a word of its title to search for."""
    from sqlalchemy import text

    from bookstore_api.infra.db import make_engine

    engine = make_engine({"sqlalchemy.url": database_url})
    try:
        with engine.connect() as connection:
            book_id, title = connection.execute(
                text(
                    "SELECT id, title FROM books WHERE archived_at IS NULL AND stock_quantity > 0"
                    " ORDER BY cover_url IS NULL, sales_count DESC, id LIMIT 1"
                )
            ).one()
    finally:
        engine.dispose()
    words = [word for word in re.findall(r"[A-Za-z]+", title) if len(word) > 3] or ["book"]
    return book_id, max(words, key=len).lower()


def prepare_catalogue(database_url: str, covers_dir: Path, books: int) -> None:
    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.infra.db import make_engine
    from bookstore_dev.seed import seed_catalog, seed_covers

    upgrade(database_url)
    engine = make_engine({"sqlalchemy.url": database_url})
    try:
        seed_catalog(engine, books=books, seed=1, progress=False)
        seed_covers(engine, {"bookstore.covers_storage": "local", "bookstore.covers_dir": str(covers_dir)})
    finally:
        engine.dispose()


# --- the run -------------------------------------------------------------------------------------------------


def score_pages(urls: dict[str, str], cookie: str | None, runs: int, reports: Path | None = None) -> tuple[dict, dict]:
    results: dict[str, dict[str, Any]] = {}
    all_runs: dict[str, list[dict[str, Any]]] = {}
    for page, url in urls.items():
        # one untimed visit first, so every page is measured warm (templates compiled, caches filled)
        run_lighthouse(url, cookie if page in SHOPPER_PAGES else None)
        page_runs = []
        for run in range(runs):
            try:
                report = run_lighthouse(url, cookie if page in SHOPPER_PAGES else None)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # one broken run is a result, not the end
                page_runs.append(
                    {"url": url, **dict.fromkeys(("perf", "a11y", "bp", "seo", "cls", "tbt_ms")), "error": str(exc)}
                )
                continue
            if reports is not None:
                reports.mkdir(parents=True, exist_ok=True)
                (reports / f"{page}-{run + 1}.json").write_text(json.dumps(report))
            summary = summarize(report)
            if summary["url"] != url:  # e.g. sent to the log-in page: not the page we meant to score
                summary["error"] = f"ended at {summary['url']}"
                summary["perf"] = None
            summary["load_average"] = round(os.getloadavg()[0], 2)
            page_runs.append(summary)
        all_runs[page] = page_runs
        results[page] = median_run(page_runs)
        print(
            f"  {page:<10} perf {[r['perf'] for r in page_runs]}"
            f"  CLS {[r['cls'] for r in page_runs]}  load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    return results, all_runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs per page (the median is reported)")
    parser.add_argument("--books", type=int, default=2000, help="size of the demo catalogue")
    parser.add_argument("--pages", default=",".join(PAGES), help=f"comma-separated subset of {','.join(PAGES)}")
    parser.add_argument("--reports", type=Path, help="keep every run's full Lighthouse JSON report in this directory")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a page misses a target")
    args = parser.parse_args(argv)
    pages = [page.strip() for page in args.pages.split(",") if page.strip()]
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        parser.error(f"unknown pages: {', '.join(unknown)}")
    if not Path(CHROMIUM).exists():
        print(f"lighthouse: no Chromium at {CHROMIUM} (./scripts/system-deps.sh installs it)", file=sys.stderr)
        return 2
    ensure_lighthouse()
    version = json.loads((TOOLS / "node_modules" / "lighthouse" / "package.json").read_text())["version"]

    sys.path.insert(0, str(BENCH))
    from common import api_server, services, web_server

    load_before = os.getloadavg()
    started = time.monotonic()
    with services("bench_lighthouse") as (database_url, redis_url):
        covers_dir = Path(tempfile.mkdtemp(prefix="bookstore-lighthouse-covers-"))
        try:
            prepare_catalogue(database_url, covers_dir, args.books)
            book_id, query = pick_book(database_url)
            covers = {"BOOKSTORE_COVERS_DIR": str(covers_dir)}
            with (
                api_server(database_url, redis_url, threads=None, extra_env=covers) as (api_url, _),
                web_server(api_url, redis_url, extra_env=covers) as (web_url, _),
            ):
                urls = {page: url for page, url in page_urls(web_url, book_id, query).items() if page in pages}
                cookie = shopper_cookie(web_url, book_id) if SHOPPER_PAGES & set(pages) else None
                print(f"lighthouse {version}, mobile defaults, {args.runs} runs per page, Chromium at {CHROMIUM}")
                results, all_runs = score_pages(urls, cookie, args.runs, args.reports)
        finally:
            shutil.rmtree(covers_dir, ignore_errors=True)
    load_after = os.getloadavg()

    print(f"\nLighthouse (median of {args.runs} runs per page, mobile, simulated throttling)")
    print(table(results))
    print(
        f"targets: performance >= {TARGETS['perf']}, accessibility, best practices and SEO 100, CLS 0;"
        f" load average {load_before[0]:.2f} before, {load_after[0]:.2f} after ({os.cpu_count()} CPUs),"
        f" {time.monotonic() - started:.0f}s"
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"lighthouse-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "lighthouse": version,
                "chromium": CHROMIUM,
                "form_factor": "mobile",
                "throttling": "simulate",
                "runs_per_page": args.runs,
                "books": args.books,
                "load_average": {"before": load_before, "after": load_after, "cpus": os.cpu_count()},
                "targets": {**TARGETS, "cls": 0},
                "pages": {
                    page: {"median": results[page], "misses": misses(results[page]), "runs": all_runs[page]}
                    for page in results
                },
                "median_perf": statistics.median(r["perf"] for r in results.values() if r["perf"] is not None)
                if results
                else None,
            },
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")
    if args.strict and any(misses(summary) for summary in results.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
