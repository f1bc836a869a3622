#!/usr/bin/env python3
"""Runs the shell completions: what they offer, not only what they mention.

usage: check_completions.py SOURCE_ROOT FIXTURE_ROOT

Every completion file must parse (bash -n, zsh -n, fish --no-execute). Then each shell
completes real command lines: options, insmod's module files in a scratch folder, the --sort
keys, and the loaded modules of FIXTURE_ROOT's /proc/modules. bash runs the completion functions
with bash-completion's helpers; fish answers `complete -C`; zsh's completion system runs only
inside its line editor, so an interactive zsh on a pseudo-terminal (zpty) is sent each line and a
TAB. To put the fixture at /proc/modules, the shells run in a private mount namespace (unshare
-m, as root or with -r) with a tmpfs over /proc.

A missing shell, bash-completion, or a namespace that cannot be made is a skip (exit 77), and a
failure under CI=true.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKIP = 77
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")

# command line -> words that must be offered, words that must not
CASES = {
    "insmod --f": ({"--force", "--force-modversion", "--force-vermagic"}, {"--deps"}),
    "insmod ": ({"a.ko", "b.ko.zst", "c.ko.xz", "d.ko.gz", "sub/"}, {"notes.txt", "e.ko.bz2"}),
    "insmod -f sub/": ({"sub/g.ko"}, set()),
    "insmod a.ko ": (set(), {"a.ko", "b.ko.zst"}),
    "rmmod --remove-": ({"--remove-holders", "--remove-deps"}, set()),
    "rmmod nf_": ({"nf_nat", "nf_conntrack", "nf_defrag_ipv6", "nf_defrag_ipv4"}, {"xfs"}),
    "rmmod -w x": ({"x_tables", "xfs"}, {"nf_nat"}),
    "lsmod --sort ": ({"name", "size", "refcount"}, {"xfs"}),
    "lsmod lib": ({"libcrc32c"}, set()),
    "lsmod -": ({"--json", "--tree", "--sort", "-j", "-t", "-s"}, set()),
}

BASH_DRIVER = r"""
source "$BASH_COMPLETION"
for tool in insmod rmmod lsmod; do source "$COMPLETIONS/bash/$tool"; done
# Completes one command line as bash would, splitting it with COMP_WORDBREAKS.
offer() {
    local line=$1
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMP_WORDS=()
    read -ra COMP_WORDS <<<"$line"
    [[ $line == *' ' ]] && COMP_WORDS+=('')
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    "_${COMP_WORDS[0]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
        "${COMP_WORDS[COMP_CWORD - 1]}"
    local word
    for word in "${COMPREPLY[@]}"; do
        # _filedir offers folders without their slash, and marks them with compopt -o filenames.
        [[ -d $word ]] && word+=/
        printf '%s\n' "$word"
    done
}
while IFS= read -r line; do
    printf '=== %s\n' "$line"
    offer "$line"
done
"""

FISH_DRIVER = r"""
for tool in insmod rmmod lsmod
    source $COMPLETIONS/fish/$tool.fish
end
while read -l line
    echo "=== $line"
    complete -C"$line" | string replace -r '\t.*' ''
end
"""


ZSH_DRIVER = r"""
zmodload zsh/zpty
out=$(mktemp)
lines=("${(@f)$(cat)}")
# Waits (10 s at most) until the last line of $out is $1: each step is confirmed, not timed.
await() {
    local i
    for i in {1..200}; do
        [[ $(tail -n 1 $out) == $1 ]] && return 0
        sleep 0.05
    done
    print -r -- "=== timed out waiting for $1" >> $out
    return 1
}
zpty z env OUT=$out COMPLETIONS=$COMPLETIONS zsh -f -i
zpty -w z 'PS1=""; RPS1=""; bindkey -e; unsetopt auto_list auto_menu beep'
zpty -w z 'fpath=($COMPLETIONS/zsh $fpath); autoload -U compinit; compinit -u -D'
# Records what the completion functions offer; calls that only ask (-O, -A, -D) are passed on.
zpty -w z 'compadd() {
    if (( ${@[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi
    local -a hits; builtin compadd -O hits "$@"
    (( $#hits )) && print -rl -- $hits >> $OUT
    builtin compadd "$@"
}'
# TAB completes, then says so and empties the line.
zpty -w z 'zle -C capture-complete complete-word _main_complete'
zpty -w z 'capture() { zle capture-complete; print -r -- "--- done" >> $OUT; BUFFER=""; }'
zpty -w z 'zle -N capture; bindkey "^I" capture; print -r -- "--- ready" >> $OUT'
await '--- ready'
for line in $lines; do
    print -r -- "=== $line" >> $out
    zpty -w -n z "$line"$'\t'
    await '--- done' || break
done
zpty -d z
grep -v '^--- ' $out
rm -f $out
"""


def cannot_run(why):
    if os.environ.get("CI") == "true":
        print(f"FAIL: cannot run under CI: {why}")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def namespace_prefix(fixture_modules):
    """The command that runs a shell with FIXTURE's modules at /proc/modules."""
    setup = (f'mount -t tmpfs none /proc && cp "{fixture_modules}" /proc/modules && '
             'exec "$@"')
    for prefix in (["unshare", "-m"], ["unshare", "-r", "-m"]):
        probe = subprocess.run(prefix + ["sh", "-c", setup, "sh", "cat", "/proc/modules"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout == fixture_modules.read_text():
            return prefix + ["sh", "-c", setup, "sh"]
    cannot_run("no private mount namespace (unshare -m) to put a fixture at /proc/modules")
    return []


def offered_as(word):
    """zsh offers "sub/g.ko" as "g.ko" and a folder without its slash: compare the last part."""
    return word.rstrip("/").rsplit("/", 1)[-1]


def parse_offers(output):
    offers, line = {}, None
    for row in output.splitlines():
        if row.startswith("=== "):
            line = row[4:]
            offers[line] = set()
        elif line is not None and row:
            offers[line].add(offered_as(row))
    return offers


def check_offers(shell, offers):
    failures = []
    for line, (wanted, unwanted) in CASES.items():
        got = offers.get(line)
        if got is None:
            failures.append(f"{shell}: '{line}' was not completed")
            continue
        for word in sorted({offered_as(w) for w in wanted} - got):
            failures.append(f"{shell}: '{line}' does not offer {word} (offers {sorted(got)})")
        for word in sorted({offered_as(w) for w in unwanted} & got):
            failures.append(f"{shell}: '{line}' offers {word}, which it should not")
    return failures


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    completions = Path(sys.argv[1]).resolve() / "completions"
    fixture_modules = Path(sys.argv[2]).resolve() / "proc" / "modules"
    for shell in ("bash", "zsh", "fish"):
        if shutil.which(shell) is None:
            cannot_run(f"{shell} is not installed")
    if not BASH_COMPLETION.is_file():
        cannot_run(f"bash-completion is not installed ({BASH_COMPLETION})")

    failures = []
    syntax = {
        "bash": (["bash", "-n"], ["insmod", "rmmod", "lsmod"]),
        "zsh": (["zsh", "-n"], ["_insmod", "_rmmod", "_lsmod"]),
        "fish": (["fish", "--no-execute"], ["insmod.fish", "rmmod.fish", "lsmod.fish"]),
    }
    for shell, (command, names) in syntax.items():
        for name in names:
            path = completions / shell / name
            run = subprocess.run(command + [str(path)], capture_output=True, text=True,
                                 check=False)
            if run.returncode != 0:
                failures.append(f"{shell}: {path} does not parse: {run.stderr.strip()}")

    prefix = namespace_prefix(fixture_modules)
    lines = "".join(line + "\n" for line in CASES)
    env = dict(os.environ, COMPLETIONS=str(completions), BASH_COMPLETION=str(BASH_COMPLETION),
               HOME=tempfile.gettempdir())
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("a.ko", "b.ko.zst", "c.ko.xz", "d.ko.gz", "e.ko.bz2", "notes.txt",
                     "sub/g.ko"):
            (Path(scratch) / name).parent.mkdir(exist_ok=True)
            (Path(scratch) / name).touch()
        drivers = {
            "bash": ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER],
            "fish": ["fish", "--no-config", "-c", FISH_DRIVER],
            "zsh": ["zsh", "-f", "-c", ZSH_DRIVER],
        }
        for shell, command in drivers.items():
            run = subprocess.run(prefix + command, input=lines, capture_output=True, text=True,
                                 cwd=scratch, env=env, check=False)
            if run.returncode != 0 or run.stderr.strip():
                failures.append(f"{shell}: the completions failed: {run.stderr.strip()}")
            failures += check_offers(shell, parse_offers(run.stdout))

    checked = len(CASES)
    print(f"9 completion files parse; {checked} command lines completed in bash, zsh and fish")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
