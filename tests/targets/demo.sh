#!/bin/sh
# make demo: start the demo target and open the dashboard attached to it.
# The target is stopped when the dashboard quits.
set -eu
build=${1:-build}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" "$(dirname "$0")/demo.py" --quiet &
target=$!
trap 'kill $target 2>/dev/null || true' EXIT INT TERM
sleep 0.5
"$build/pymemtop" "$target"
