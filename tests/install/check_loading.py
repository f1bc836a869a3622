#!/usr/bin/env python3
"""What a call of the tools loads (README.md, "Installing"; tools/meson.build).

usage: check_loading.py --program MODLOAD --lsmod LINK --rmmod LINK --insmod LINK --zst-module FILE

- A dynamically linked modload needs none of libelf, libzstd, liblzma, zlib and libbpf at start
  (no DT_NEEDED entry), and names each in its .note.dlopen note, where packaging tools and the
  lab find them; lsmod and `rmmod nonexistent_module` run and load none of them (LD_DEBUG=libs
  lists every library the dynamic loader looks for, dlopen's too), while `insmod -d -n` of a
  .ko.zst (a dry run: it reads the file and loads nothing into the kernel) opens libzstd and
  libelf (which shows the check sees dlopen).
- A statically linked modload (-Dstatic=true) needs no shared library at all.
Whether the tools succeed depends on the machine (this one may have no /proc/modules); what
they load does not.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

OPENED_ON_FIRST_USE = ["libelf.so.1", "libzstd.so.1", "liblzma.so.5", "libz.so.1", "libbpf.so.1"]


def readelf(args):
    return subprocess.run(["readelf", *args], check=True, capture_output=True, text=True).stdout


def dlopen_note(program):
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "note")
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.note.dlopen", program, out],
                       check=True, capture_output=True)
        raw = open(out, "rb").read()
    # One ELF note: name size, descriptor size, type, "FDO\0", then the JSON, NUL-padded.
    if len(raw) < 16 or raw[12:16] != b"FDO\0":
        return None
    size = int.from_bytes(raw[4:8], "little")
    return json.loads(raw[16:16 + size].rstrip(b"\0").decode())


def loads(command, failures):
    """Runs `command` with LD_DEBUG=libs: its result and the libraries the loader looked for."""
    env = dict(os.environ, LD_DEBUG="libs")
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    looked_for = set(re.findall(r"find library=(\S+?) \[", run.stderr))
    if not looked_for:
        failures.append(f"{command}: LD_DEBUG=libs listed no library (stderr: {run.stderr[:400]!r})")
    return run, looked_for


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--program", required=True)
    parser.add_argument("--lsmod", required=True)
    parser.add_argument("--rmmod", required=True)
    parser.add_argument("--insmod", required=True)
    parser.add_argument("--zst-module", required=True)
    args = parser.parse_args()

    failures = []
    headers = readelf(["-lW", args.program])
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf(["-dW", args.program]))
    if "program interpreter" not in headers:
        if needed:
            failures.append(f"the static modload needs shared libraries: {needed}")
        else:
            print(f"{args.program} is static and needs no shared library")
    else:
        early = sorted(set(needed) & set(OPENED_ON_FIRST_USE))
        if early:
            failures.append(f"modload loads at every start what it should open on first use: {early}")
        note = dlopen_note(args.program)
        named = sorted({s for entry in (note or []) for s in entry.get("soname", [])})
        unnamed = [s for s in OPENED_ON_FIRST_USE if s not in named]
        if unnamed:
            failures.append(f".note.dlopen does not name {unnamed} (it names {named})")
        for command in ([args.lsmod], [args.rmmod, "nonexistent_module"]):
            run, looked_for = loads(command, failures)
            loaded = sorted(looked_for & set(OPENED_ON_FIRST_USE))
            if loaded:
                failures.append(f"{' '.join(command)} loaded {loaded}")
            else:
                print(f"{os.path.basename(command[0])}: exit {run.returncode}, loaded "
                      f"{sorted(looked_for)} and none of {OPENED_ON_FIRST_USE}")
        # Reading a zstd module opens libzstd and libelf; the dry run then plans, or fails where
        # there is no /proc/modules, and never loads anything.
        run, looked_for = loads([args.insmod, "-d", "-n", args.zst_module], failures)
        opened = sorted(looked_for & {"libzstd.so.1", "libelf.so.1"})
        if opened != ["libelf.so.1", "libzstd.so.1"]:
            failures.append(f"insmod {args.zst_module} opened {opened}, not libelf and libzstd "
                            f"(stderr: {run.stderr[-400:]!r})")
        else:
            print(f"insmod -d -n {os.path.basename(args.zst_module)}: exit {run.returncode}, opened "
                  f"{opened} on first use")
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
