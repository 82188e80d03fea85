#!/usr/bin/env bash
# Set up krmfn in .venv and run it on the bundled example: prints the rewritten list, then
# what changed, as `diff -u` of the input and the output.
# Usage: bash scripts/demo.sh [resourcelist.yaml]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
example="${1:-$ROOT/examples/demo.yaml}"
output="$(mktemp)"
trap 'rm -f "$output"' EXIT
status=0
krmfn < "$example" > "$output" || status=$?
cat "$output"
echo
echo "# What changed (diff -u input output):"
diff -u --label "input: ${example#"$ROOT"/}" --label "output: krmfn" "$example" "$output" || true
echo
echo "# krmfn is installed in $VENV; to run it yourself: source ${VENV#"$PWD"/}/bin/activate"
exit "$status"
