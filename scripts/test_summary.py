#!/usr/bin/env python3
"""Prints one closing line, "N passed, N failed", over meson testlog.json files.

A TAP test counts each of its results; any other test counts once. Under CI=true a skipped test
counts as failed: a test that cannot run there is a failure, never a quiet skip.
Exits 1 when anything failed (or, in CI, was skipped).
"""
import json
import os
import re
import sys

TAP_RESULT = re.compile(r"^(not ok|ok)\b(.*)$")


def tap_counts(stdout):
    passed = failed = skipped = 0
    for line in stdout.splitlines():
        m = TAP_RESULT.match(line)
        if not m:
            continue
        directive = m.group(2).lower()
        if "# skip" in directive:
            skipped += 1
        elif m.group(1) == "ok" or "# todo" in directive:
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped


def main(paths):
    passed = failed = skipped = 0
    in_ci = os.environ.get("CI") == "true"
    for path in paths:
        with open(path) as f:
            for line in f:
                test = json.loads(line)
                result = test["result"]
                name = f'{os.path.dirname(os.path.dirname(path))}: {test["name"]}'
                if test.get("protocol") == "tap" and result in ("OK", "FAIL", "SKIP"):
                    p, fl, s = tap_counts(test.get("stdout") or "")
                    if p + fl + s > 0:
                        passed, failed, skipped = passed + p, failed + fl, skipped + s
                        if result == "FAIL" and fl == 0:
                            failed += 1  # the harness itself failed after its checks
                            print(f"FAILED: {name} (harness)")
                        elif fl:
                            print(f"FAILED: {name} ({fl} checks)")
                        continue
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                    print(f"SKIPPED: {name}")
                else:
                    failed += 1
                    print(f"FAILED: {name} ({result})")
    if in_ci and skipped:
        print(f"{skipped} skipped tests count as failed under CI=true")
        failed, skipped = failed + skipped, 0
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
