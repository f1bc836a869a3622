#!/bin/sh
# Every Catch test case must carry one of the areas meson runs, or it would never run.
# usage: tags_test.sh UNIT_TESTS AREA...
set -eu
bin=$1; shift
expr=""
for area in "$@"; do expr="$expr~[$area]"; done
untagged=$("$bin" --list-test-names-only "$expr" | grep -v '^$' || true)
total=$("$bin" --list-test-names-only | grep -c -v '^$')
if [ -n "$untagged" ]; then
    echo "test cases with no area tag (they run in no meson test):"
    echo "$untagged"
    exit 1
fi
echo "all $total test cases carry an area tag"
