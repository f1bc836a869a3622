#!/usr/bin/env python3
"""Compares libmodload.so's ABI with the committed baseline, tests/abi/libmodload.abi.

usage: check_abi.py --library FILE --headers DIR --baseline FILE [--write]

libabigail's abidiff reads the library's exported symbols and, from its DWARF (the library must
be built with -g), the types they use; --headers (the public headers' folder) tells it which
types are public, so that a change to a type of modload::detail is not reported. The verdict
follows README.md's "ABI and soname" policy:
- no change: pass;
- only additions (new functions or variables): pass, and the additions are listed, to be taken
  into the baseline (scripts/abi-baseline) with the release that bumps the minor version;
- anything removed or changed (a function's parameters, a public class's layout, a vtable, the
  soname): fail. An intended break bumps the soname and takes a new baseline.

--write makes the baseline instead (scripts/abi-baseline). It leaves out what differs between
build folders and machines (the corpus path, the compilation folder, the libraries the build
happened to need) and writes the project's source paths from libmodload/ on, so that the same
sources give the same file wherever they are built.

abidiff and abidw come with Debian's abigail-tools. One that is missing, or a library without
debug info, is a skip (exit 77), and a failure under CI=true.
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

# abidiff's exit status is a bit field (abidiff(1)).
ABIDIFF_ERROR = 1
ABIDIFF_USAGE_ERROR = 2
ABIDIFF_ABI_CHANGE = 4
ABIDIFF_ABI_INCOMPATIBLE_CHANGE = 8

# What both abidw and abidiff read: only interfaces that are exported (the rest of the DWARF,
# libstdc++'s templates for the internals among it, would make the baseline four times larger).
READ_OPTIONS = ["--exported-interfaces-only"]
# The compilation folder differs between build folders, the libraries linked (DT_NEEDED) between
# builds with and without BPF; neither is ABI. Source locations stay: abidiff tells the public
# types by the header file they are declared in (--headers-dir), and without locations it takes
# every type for private and reports no change to any.
WRITE_OPTIONS = ["--drop-private-types", "--no-corpus-path", "--no-comp-dir-path",
                 "--no-elf-needed", "--type-id-style", "hash"]
# The project's source paths are relative to the build folder ("../libmodload/src/x.cpp",
# "../../src/modload/libmodload/include/modload/x.hpp"): kept from libmodload/ on.
SOURCE_PATH = re.compile(r"(path=')(?:[^']*/)?(libmodload/(?:include/modload|src)/[^'/]*')")


def cannot_run(why):
    if os.environ.get("CI") == "true":
        print(f"FAIL: cannot run under CI: {why}")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def run(command):
    return subprocess.run(command, capture_output=True, text=True, check=False)


def has_debug_info(library):
    sections = run(["readelf", "-S", "-W", library]).stdout
    return ".debug_info" in sections


def write_baseline(args):
    with tempfile.TemporaryDirectory(prefix="modload-abi-") as temp:
        raw = os.path.join(temp, "libmodload.abi")
        done = run(["abidw", "--headers-dir", args.headers] + READ_OPTIONS + WRITE_OPTIONS
                   + ["--out-file", raw, args.library])
        if done.returncode != 0:
            print(f"FAIL: abidw failed ({done.returncode}):\n{done.stdout}{done.stderr}")
            return 1
        with open(raw) as f:
            text = SOURCE_PATH.sub(r"\1\2", f.read())
    with open(args.baseline, "w") as f:
        f.write(text)
    print(f"wrote {args.baseline} from {args.library}")
    return 0


def summary_counts(report, word):
    """The counts abidiff's summaries give for `word` ("Removed", "Changed", "Added")."""
    return [int(n) for n in re.findall(r"(\d+) " + word + r"\b", report)]


def compare(args):
    diff = run(["abidiff", "--headers-dir1", args.headers, "--headers-dir2", args.headers]
               + READ_OPTIONS + ["--fail-no-debug-info", args.baseline, args.library])
    report = diff.stdout + diff.stderr
    status = diff.returncode
    if status & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR) or status < 0:
        print(f"FAIL: abidiff could not compare ({status}):\n{report}")
        return 1
    if status == 0:
        print(f"{os.path.basename(args.library)} has the ABI of {args.baseline}")
        return 0
    print(report)
    removed_or_changed = any(summary_counts(report, "Removed") + summary_counts(report, "Changed"))
    added = any(summary_counts(report, "Added"))
    if status & ABIDIFF_ABI_INCOMPATIBLE_CHANGE or removed_or_changed or not added:
        print("FAIL: the ABI changed incompatibly (above). If that is intended, bump the major "
              "version (the soname) in meson.build and run scripts/abi-baseline; otherwise "
              "undo the change.")
        return 1
    print("ABI additions only (above): compatible. scripts/abi-baseline takes them into the "
          "baseline with the release that bumps the minor version.")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--headers", required=True, help="the public headers' folder")
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--write", action="store_true", help="write the baseline instead")
    args = parser.parse_args()
    if not os.path.isfile(args.library):
        print(f"FAIL: {args.library} does not exist")
        return 1
    tool = "abidw" if args.write else "abidiff"
    if shutil.which(tool) is None:
        cannot_run(f"{tool} is not on PATH (Debian: apt-get install abigail-tools)")
    if shutil.which("readelf") is None:
        cannot_run("readelf is not on PATH")
    if platform.machine() != "x86_64":
        cannot_run(f"the baseline is x86-64's, this is {platform.machine()}")
    if not has_debug_info(args.library):
        cannot_run(f"{args.library} has no debug info: build with -g "
                   "(buildtype debugoptimized, the default, or debug)")
    return write_baseline(args) if args.write else compare(args)


if __name__ == "__main__":
    sys.exit(main())
