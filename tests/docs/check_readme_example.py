#!/usr/bin/env python3
"""Checks that the README shows examples/list_modules.cpp as it is, so the two cannot drift.

usage: check_readme_example.py README EXAMPLE
"""

import re
import sys
from pathlib import Path


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    readme = Path(sys.argv[1]).read_text()
    example = Path(sys.argv[2]).read_text()
    blocks = re.findall(r"^```cpp\n(.*?)^```$", readme, flags=re.S | re.M)
    if example in blocks:
        print(f"the README shows {Path(sys.argv[2]).name} as it is")
        return 0
    print(f"FAIL: no ```cpp block of the README is {sys.argv[2]} "
          f"({len(blocks)} cpp blocks found); copy the file into the README")
    return 1


if __name__ == "__main__":
    sys.exit(main())
