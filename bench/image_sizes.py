"""How big each image's Python environment is, built as its Dockerfile builds /opt/venv.

No Docker engine runs on the development and CI machines, so the figure is the
installed venv (what ``COPY --from=builder /opt/venv /opt/venv`` adds to the slim
Python base): for each image, a fresh venv with that image's pinned set
(``requirements/<app>.txt``) and its wheel (``BOOKSTORE_DIST=<app>``), plus, for
comparison, a venv with both apps' set (``requirements.txt``, what each image
installed when both shipped one wheel). With ``--compare REV`` also the set
``requirements.txt`` pinned at that git revision. Prints a table and writes
``bench/results/image-sizes-<time>.json``.

    .venv/bin/python bench/image_sizes.py [--compare REV]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
#: distributions the storefront has no use for (it owns no tables)
DATABASE_DISTRIBUTIONS = {"sqlalchemy", "psycopg2-binary", "alembic", "argon2-cffi", "zope-sqlalchemy", "transaction"}


def run(argv: list[str], **kwargs) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build(work: Path, name: str, requirements: str, dist: str | None) -> dict:
    venv = work / name
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", "setuptools<81", "wheel"], env=env)
    run([python, "-m", "pip", "install", "-q", "-r", requirements], cwd=ROOT, env=env)
    if dist is not None:
        wheels = work / f"{name}-wheels"
        build_env = {**env, "BOOKSTORE_DIST": dist, "PIP_NO_INDEX": "1"}
        run([python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
            cwd=ROOT, env=build_env)  # fmt: skip
        run([python, "-m", "pip", "install", "-q", "--no-deps", *map(str, wheels.glob("*.whl"))], env=env)
    # the images never keep pip's caches or byte-code from the build: count the files as shipped
    for cache in venv.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    installed = [line.split("==")[0].lower() for line in run([python, "-m", "pip", "list", "--format=freeze"]).split()]
    site = next((venv / "lib").glob("python*/site-packages"))
    return {
        "requirements": requirements,
        "distribution": dist,
        "venv_mb": round(folder_bytes(venv) / 1e6, 1),
        "site_packages_mb": round(folder_bytes(site) / 1e6, 1),
        "distributions": len(installed),
        "database_stack": sorted(DATABASE_DISTRIBUTIONS & set(installed)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", metavar="REV", help="also measure requirements.txt as pinned at this revision")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bookstore-image-sizes-"))
    try:
        figures = {
            "api image": build(work, "api", "requirements/api.txt", "api"),
            "web image": build(work, "web", "requirements/web.txt", "web"),
            "both apps' set (for comparison)": build(work, "both", "requirements.txt", None),
        }
        if args.compare:
            pinned = work / "compare-requirements.txt"
            pinned.write_text(run(["git", "show", f"{args.compare}:requirements.txt"], cwd=ROOT))
            figures[f"requirements.txt at {args.compare}"] = build(work, "compare", str(pinned), None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'environment':34} {'venv MB':>8} {'site-packages MB':>17} {'dists':>6}  database stack")
    for name, row in figures.items():
        stack = ", ".join(row["database_stack"]) or "none"
        print(f"{name:34} {row['venv_mb']:>8} {row['site_packages_mb']:>17} {row['distributions']:>6}  {stack}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"image-sizes-{stamp}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
