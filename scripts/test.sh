#!/usr/bin/env bash
# Runs s2f's whole test suite, installing what the tests need first.
#
# Python tools used only as independent cross-checks (NumPy) are installed from PyPI into
# .venv/ (pinned in scripts/requirements-test.txt); the Rust tests find it through S2F_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export S2F_PYTHON="$PWD/.venv/bin/python"

cargo test "$@"
