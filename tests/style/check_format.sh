#!/bin/sh
# Every C and C++ source of the project is as clang-format 14 writes it under the .clang-format
# that governs it (the kernel-side C of the lab's modules and the BPF program is left to the
# kernel's own style: their folders' .clang-format turns formatting off).
# usage: check_format.sh SOURCE_ROOT
set -eu
root=$1
cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ]; then
    echo "check_format: clang-format 14 is not installed (scripts/install-deps installs it)"
    exit 1
fi
case $("$cf" --version) in
*" 14."*) ;;
*) echo "check_format: $cf is not clang-format 14: $("$cf" --version)"; exit 1 ;;
esac
cd "$root"
list=$(find libmodload tools tests fuzz examples bench -type f \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
total=0 differ=0
for f in $list; do
    total=$((total + 1))
    if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
        differ=$((differ + 1))
        echo "differs from clang-format: $f"
    fi
done
if [ "$total" = 0 ]; then
    echo "check_format: no sources found under $root"
    exit 1
fi
if [ "$differ" != 0 ]; then
    echo "$differ of $total files differ: run clang-format-14 -i on them"
    exit 1
fi
echo "all $total C and C++ files are as clang-format 14 writes them"
