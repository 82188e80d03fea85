#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (unit, golden, orchestrators, property
# tests), then the runtime tier (scripts/runtime-tests.sh: krmfn's output run as pods).
# Tests that run kpt, kubectl, podman, hadolint or the images (built by
# `bash scripts/build-image.sh`) skip without them, saying what to install, unless CI is
# set; so does the runtime tier without its venv.
set -euo pipefail
KRMFN_EXTRAS=test source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$ROOT"
ruff check .
ruff format --check .
mypy krmfn
python -m pytest "$@"
bash "$ROOT/scripts/runtime-tests.sh"
