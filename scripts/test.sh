#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (unit, golden, orchestrators, property
# tests; the container tests need `bash scripts/build-image.sh` first and skip without it
# unless CI is set).
set -euo pipefail
KRMFN_EXTRAS=test source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$ROOT"
ruff check .
ruff format --check .
mypy krmfn
python -m pytest "$@"
