#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (unit, golden, orchestrators, property
# tests). Tests that run kpt, kubectl, podman, hadolint or the images (built by
# `bash scripts/build-image.sh`) skip without them, saying what to install, unless CI is set.
set -euo pipefail
KRMFN_EXTRAS=test source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$ROOT"
ruff check .
ruff format --check .
mypy krmfn
python -m pytest "$@"
