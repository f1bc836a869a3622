#!/usr/bin/env python3
"""Checks that each tool's options, as its --help lists them, are documented everywhere.

usage: check_docs.py SOURCE_ROOT TOOL...

For each built TOOL, the options in `TOOL --help` must be defined in its man page
(man/TOOL.8.scd) and offered by its bash, zsh and fish completions; and those four files must
define no option the tool lacks, so that they neither fall behind nor run ahead of the tool.
Long and short options are both checked. The man page must also name each positional argument.
Exits 1 listing every gap.
"""

import re
import subprocess
import sys
from pathlib import Path

LONG = r"--[A-Za-z0-9][A-Za-z0-9-]*"
SHORT = r"-[A-Za-z0-9]"


def help_options(tool):
    """The options and positionals in CLI11's --help: ({'--force', '-f', ...}, ['FILE', ...])."""
    run = subprocess.run([tool, "--help"], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(f"{tool} --help exited {run.returncode}: {run.stderr.strip()}")
    options, positionals = set(), []
    section = None
    for line in run.stdout.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line[:-1]
            continue
        words = line.split()
        if not words:
            continue
        if section == "Options" and words[0].startswith("-"):
            # "-w,--wait{-1}": names separated by commas; a default value in braces.
            for name in words[0].split(","):
                options.add(re.sub(r"\{.*\}$", "", name))
        elif section == "Positionals":
            positionals.append(words[0])
    if "--help" not in options:
        sys.exit(f"could not read the options of {tool} --help:\n{run.stdout}")
    return options, positionals


def code_lines(text):
    """The lines of a shell script that are not comments."""
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


def man_options(text):
    # Definitions in OPTIONS are lines that start with the option in bold: "*-f*, *--force*".
    found = set()
    for line in text.splitlines():
        if line.startswith("*-"):
            found.update(re.findall(r"\*(" + LONG + r"|" + SHORT + r")\*", line))
    return found


def bash_options(text):
    # The options are the words offered with compgen -W '...'.
    found = set()
    for words in re.findall(r"compgen -W '([^']*)'", "\n".join(code_lines(text))):
        found.update(w for w in words.split() if w.startswith("-"))
    return found


def zsh_options(text):
    # _arguments specs: {-f,--force}'[...]', '--force-vermagic[...]', '(-w --wait)--wait=-[...]'.
    code = "\n".join(code_lines(text))
    found = set()
    for group in re.findall(r"\{(-[^}]*)\}", code):
        found.update(name.rstrip("+=-") for name in group.split(","))
    found.update(re.findall(r"'(?:\([^)]*\))?(" + LONG + "|" + SHORT + r")[-+=]*\[", code))
    return found


def fish_options(text):
    # complete -c TOOL -s f -l force ...; quoted strings (conditions, descriptions) left out, so
    # that a condition naming --tree does not stand in for the line that offers it.
    found = set()
    code = re.sub(r"\\\n", " ", "\n".join(code_lines(text)))
    for line in code.splitlines():
        line = re.sub(r"'[^']*'|\"[^\"]*\"", "''", line)
        if not line.lstrip().startswith("complete "):
            continue
        short = re.findall(r"\s(?:-s|--short-option)\s+([A-Za-z0-9])\b", line)
        long = re.findall(r"\s(?:-l|--long-option)\s+(" + LONG[2:] + ")", line)
        found.update(["-" + s for s in short] + ["--" + s for s in long])
    return found


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root = Path(sys.argv[1])
    failures = []
    for tool in sys.argv[2:]:
        name = Path(tool).name
        options, positionals = help_options(tool)
        files = {
            root / "man" / f"{name}.8.scd": man_options,
            root / "completions" / "bash" / name: bash_options,
            root / "completions" / "zsh" / f"_{name}": zsh_options,
            root / "completions" / "fish" / f"{name}.fish": fish_options,
        }
        for path, extract in files.items():
            if not path.is_file():
                failures.append(f"{name}: {path} is missing")
                continue
            text = path.read_text()
            documented = extract(text)
            for option in sorted(options - documented):
                failures.append(f"{name}: {option} (in --help) is missing from {path}")
            for option in sorted(documented - options):
                failures.append(f"{name}: {path} has {option}, which {name} --help does not list")
            if extract is man_options:
                for positional in positionals:
                    if f"_{positional}_" not in text:
                        failures.append(f"{name}: {path} does not name the argument {positional}")
        print(f"{name}: {len(options)} options ({' '.join(sorted(options))}) checked in "
              f"{len(files)} files")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
