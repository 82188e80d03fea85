#!/usr/bin/env bash
# Set up krmfn in .venv and run it on the bundled example: prints the rewritten list.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
example="${1:-$ROOT/examples/demo.yaml}"
krmfn < "$example"
