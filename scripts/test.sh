#!/usr/bin/env bash
# Runs s2f's whole test suite, installing what the tests need first.
#
# From PyPI into .venv/ (pinned in scripts/requirements-test.txt): the onnxruntime wheel, whose
# shared library the ONNX Runtime engine loads at run time, and NumPy for independent
# cross-checks. The tests find them through ORT_DYLIB_PATH and S2F_PYTHON; S2F_REQUIRE_ORT makes
# a missing runtime a test failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export S2F_PYTHON="$PWD/.venv/bin/python"
ORT_DYLIB_PATH=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
export ORT_DYLIB_PATH
export S2F_REQUIRE_ORT=1

cargo test "$@"
