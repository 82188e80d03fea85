#!/usr/bin/env bash
# The runtime tier (tests/runtime): krmfn's output run as pods, with bubblewrap, a `vllm`
# stand-in and the model loaders' real client libraries, against stand-ins of the hub and
# the object stores on 127.0.0.1.
#
# Its venv is cached outside the clone, keyed on tests/runtime/requirements.lock (torch,
# the Run:ai streamer, huggingface_hub, moto, ...: about 1 GB). Outside CI, a machine
# without it skips the tier and says how to make it; `--install` makes it (and installs
# bubblewrap and Azurite where they are missing), CI always does.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/tests/runtime/requirements.lock"
CACHE="${KRMFN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/krmfn}"
KEY="$(sha256sum "$LOCK" | cut -c1-12)"
VENV="$CACHE/runtime-$KEY"
export KRMFN_AZURITE_PREFIX="$CACHE/azurite"
INSTALL="bash scripts/runtime-tests.sh --install"

install=""
if [ "${1:-}" = "--install" ]; then install=1; shift; fi
[ -n "${CI:-}" ] && install=1

if [ ! -f "$VENV/.complete" ] || ! command -v bwrap >/dev/null; then
  if [ -z "$install" ]; then
    echo "runtime tier skipped: its venv ($VENV) or bubblewrap is missing; make them with: $INSTALL"
    exit 0
  fi
fi

if ! command -v bwrap >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "runtime tier: install bubblewrap (apt-get install bubblewrap)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q bubblewrap \
    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap; }
fi

if [ ! -f "$VENV/.complete" ]; then
  echo "runtime tier: making $VENV from $LOCK"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  # Every version is pinned in the lock: no resolution, and runai-model-streamer's [azure]
  # extra (which pins an azure part PyPI lacks) is replaced by the parts themselves.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$LOCK"
  touch "$VENV/.complete"
fi

cd "$ROOT"
# krmfn itself runs from the checkout (`python -m krmfn` in the tests' working folder).
export KRMFN_RUNTIME=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider tests/runtime "$@"
