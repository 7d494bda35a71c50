#!/usr/bin/env bash
# Create .venv and install the project with its pinned dependencies.
# Idempotent: re-running does nothing unless a requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=${VENV:-.venv}
STAMP="$VENV/.bootstrap-stamp"

./scripts/system-deps.sh

want=$(cat requirements.txt requirements/*.txt requirements/*.in setup.py 2>/dev/null | sha256sum | cut -d" " -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/bookstore" ]; then
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
echo "bootstrap: installing pinned requirements"
reqs=(-r requirements.txt -r requirements/dev.txt)
[ -f requirements/infra.txt ] && reqs+=(-r requirements/infra.txt)
pip_install "${reqs[@]}"
pip_install --no-deps --no-build-isolation -e .
echo "$want" > "$STAMP"
echo "bootstrap: done"
