#!/usr/bin/env python3
"""Installs the build into a scratch DESTDIR and uses it as another project would.

usage: check_install.py --build-dir DIR --source-dir DIR --fixture-root DIR --static-lib FILE...
                        [--meson MESON] [--man] [--completion SHELL=DIR]...

1. `meson install --destdir` into a temporary folder; every file meson says it installs is there,
   and so are: the tools in sbindir (each runs --version), every public header of
   libmodload/include/modload under includedir/modload, libmodload.so with its links,
   libmodload.pc in libdir/pkgconfig, the man pages (--man) and the completions (--completion).
2. libmodload.pc: Libs names -lmodload and not the uninstalled core; Requires.private names
   libelf, libzstd, liblzma and zlib, so `pkg-config --static` finds -lelf -lzstd -llzma -lz.
3. The installed library exports the public API and nothing else: every modload:: function and
   variable outside modload::detail that the static libraries it is linked whole from define
   (--static-lib; a public function not marked MODLOAD_API is missing), and no symbol of
   modload::detail or outside modload (libstdc++'s template instantiations, say).
4. Each installed header compiles on its own with only pkg-config's flags.
5. examples/list_modules.cpp builds against the installed pkg-config file (PKG_CONFIG_PATH and
   PKG_CONFIG_SYSROOT_DIR), links the installed library (rpath to the DESTDIR libdir), and lists
   the fixture root's modules in /proc/modules order; on a root without /proc/modules it fails.

The compiler is $CXX (meson passes its own); pkg-config, nm, c++filt and ldd must be on PATH.
One that is missing is a skip (exit 77), and a failure under CI=true.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKIP = 77


class Checks:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def expect(self, ok, text):
        if ok:
            self.passed += 1
        else:
            self.failures.append(text)
        return ok


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


def cannot_run(why):
    if os.environ.get("CI") == "true":
        print(f"FAIL: cannot run under CI: {why}")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def meson_option(options, name):
    for option in options:
        if option["name"] == name:
            return option["value"]
    raise KeyError(name)


def install(args, destdir, checks):
    """Runs meson install and returns the installation folders, as DESTDIR paths."""
    done = run([args.meson, "install", "-C", args.build_dir, "--destdir", str(destdir),
                "--no-rebuild", "--quiet"])
    if not checks.expect(done.returncode == 0,
                         f"meson install failed:\n{done.stdout}{done.stderr}"):
        return None
    options = json.loads(run([args.meson, "introspect", "--buildoptions", args.build_dir]).stdout)
    prefix = Path(meson_option(options, "prefix"))

    def inside(option):
        # An option may be relative to the prefix or absolute: / joins both right.
        return destdir / (prefix / meson_option(options, option)).relative_to("/")

    dirs = {name: inside(name) for name in ("sbindir", "libdir", "includedir", "mandir")}

    installed = json.loads(run([args.meson, "introspect", "--installed", args.build_dir]).stdout)
    print("installed (from the source tree or the build folder -> under DESTDIR):")
    source_dir = os.path.realpath(args.source_dir)
    build_dir = os.path.realpath(args.build_dir)
    for source, destination in sorted(installed.items(), key=lambda item: item[1]):
        real = os.path.realpath(source)
        if real.startswith(build_dir + os.sep):
            shown = "build/" + os.path.relpath(real, build_dir)
        else:
            shown = os.path.relpath(real, source_dir)
        print(f"  {shown} -> {destination}")
        path = destdir / Path(destination).relative_to("/")
        checks.expect(path.exists() or path.is_symlink(), f"{destination} was not installed")
    return dirs


def soname(source_dir):
    """libmodload.so.MAJOR, or libmodload.so.0.MINOR while the major is 0 (README.md, "ABI and
    soname"), from meson.build's version."""
    text = (Path(source_dir) / "meson.build").read_text()
    major, minor = re.search(r"version: '(\d+)\.(\d+)\.\d+'", text).groups()
    return f"libmodload.so.{major}" + (f".{minor}" if major == "0" else "")


def check_files(args, destdir, dirs, checks):
    for tool in ("insmod", "rmmod", "lsmod"):
        path = dirs["sbindir"] / tool
        if checks.expect(os.access(path, os.X_OK), f"{path} is not an installed program"):
            version = run([str(path), "--version"],
                          env=dict(os.environ, LD_LIBRARY_PATH=str(dirs["libdir"])))
            checks.expect(version.returncode == 0 and "modload version" in version.stdout,
                          f"installed {tool} --version failed: {version.stderr}")
    public = Path(args.source_dir) / "libmodload/include/modload"
    headers = sorted(p.name for p in public.glob("*.hpp"))
    installed = sorted(p.name for p in (dirs["includedir"] / "modload").glob("*.hpp"))
    checks.expect(headers and headers == installed,
                  f"installed headers {installed} are not the public headers {headers}")
    for name in ("libmodload.so", soname(args.source_dir)):
        checks.expect((dirs["libdir"] / name).exists(), f"{dirs['libdir'] / name} is missing")
    checks.expect((dirs["libdir"] / "pkgconfig/libmodload.pc").is_file(),
                  "libmodload.pc is missing")
    if args.man:
        for page in ("man8/insmod.8", "man8/rmmod.8", "man8/lsmod.8", "man3/libmodload.3"):
            path = dirs["mandir"] / page
            checks.expect(path.is_file() and path.read_text().startswith(".\\\""),
                          f"man page {path} is missing or not roff")
    for spec in args.completions:
        shell, folder = spec.split("=", 1)
        names = {"bash": ["insmod", "rmmod", "lsmod"], "zsh": ["_insmod", "_rmmod", "_lsmod"],
                 "fish": ["insmod.fish", "rmmod.fish", "lsmod.fish"]}[shell]
        for name in names:
            path = destdir / Path(folder).relative_to("/") / name
            checks.expect(path.is_file(), f"{shell} completion {path} is missing")


def pkg_config_env(destdir, dirs):
    return dict(os.environ, PKG_CONFIG_PATH=str(dirs["libdir"] / "pkgconfig"),
                PKG_CONFIG_SYSROOT_DIR=str(destdir))


def check_pkg_config(destdir, dirs, checks, bpf):
    env = pkg_config_env(destdir, dirs)
    text = (dirs["libdir"] / "pkgconfig/libmodload.pc").read_text()
    libs = re.search(r"^Libs:(.*)$", text, re.M)
    checks.expect(libs and "-lmodload" in libs.group(1).split() and "modload_core" not in text,
                  f"libmodload.pc's Libs must name -lmodload and not the core:\n{text}")
    requires = run(["pkg-config", "--print-requires-private", "libmodload"], env=env)
    required = {line.split()[0] for line in requires.stdout.splitlines() if line.strip()}
    expected = {"libelf", "libzstd", "liblzma", "zlib"} | ({"libbpf"} if bpf else set())
    checks.expect(required == expected,
                  f"Requires.private is {sorted(required)}: {requires.stderr}")
    static = run(["pkg-config", "--static", "--libs", "libmodload"], env=env)
    for flag in ("-lmodload", "-lelf", "-lzstd", "-llzma", "-lz") + (("-lbpf",) if bpf else ()):
        checks.expect(flag in static.stdout.split(),
                      f"pkg-config --static --libs lacks {flag}: {static.stdout}{static.stderr}")
    flags = run(["pkg-config", "--cflags", "--libs", "libmodload"], env=env)
    checks.expect(flags.returncode == 0, f"pkg-config --cflags --libs failed: {flags.stderr}")
    return shlex.split(flags.stdout)


def demangle(mangled):
    return run(["c++filt"], input="\n".join(mangled)).stdout.splitlines()


# A symbol of the library's own: modload::..., or the vtable or typeinfo of one of its classes.
OURS = re.compile(r"^((vtable|typeinfo|typeinfo name) for )?modload::")
INTERNAL = re.compile(r"^((vtable|typeinfo|typeinfo name) for )?modload::(detail::|\(anonymous)")


def check_exports(args, dirs, checks):
    # The public API's definitions: strong global symbols (functions, variables) of modload::
    # outside modload::detail. Inline functions and template instantiations are weak and are
    # compiled into each user, so they are no part of the exports.
    defined = set()
    for lib in args.static_libs:
        for line in run(["nm", "-g", "--defined-only", lib]).stdout.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] in "TDBR":
                defined.add(fields[2])
    defined = sorted(defined)
    public = [m for m, d in zip(defined, demangle(defined))
              if OURS.match(d) and not INTERNAL.match(d)]
    library = dirs["libdir"] / "libmodload.so"
    exported = sorted({line.split()[-1] for line in
                       run(["nm", "-D", "--defined-only", str(library)]).stdout.splitlines()})
    shown = dict(zip(exported, demangle(exported)))
    checks.expect(len(public) > 20,
                  f"found only {len(public)} public symbols in {args.static_libs}")
    missing = demangle([m for m in public if m not in shown])
    checks.expect(not missing, f"{library} does not export these public symbols: {missing}")
    internal = [d for d in shown.values() if INTERNAL.match(d)]
    checks.expect(not internal, f"{library} exports internal symbols: {internal}")
    foreign = [d for d in shown.values() if not OURS.match(d)]
    checks.expect(not foreign, f"{library} exports symbols outside modload: {foreign}")
    if not missing and not internal and not foreign:
        print(f"{library.name} exports {len(exported)} symbols: all {len(public)} public "
              f"definitions, nothing of modload::detail, nothing outside modload")


def check_headers(cxx, flags, dirs, scratch, checks):
    def compile_alone(header):
        source = scratch / f"include_{header.stem}.cpp"
        source.write_text(f"#include <modload/{header.name}>\n")
        return header, run(cxx + ["-std=c++20", "-fsyntax-only", str(source)]
                           + [f for f in flags if f.startswith("-I")])

    headers = sorted((dirs["includedir"] / "modload").glob("*.hpp"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for header, compiled in pool.map(compile_alone, headers):
            checks.expect(compiled.returncode == 0,
                          f"<modload/{header.name}> does not compile on its own:\n"
                          f"{compiled.stderr}")
    print(f"{len(headers)} installed headers compile on their own")


def check_example(args, cxx, flags, dirs, scratch, checks):
    program = scratch / "list_modules"
    built = run(cxx + ["-std=c++20", "-o", str(program),
                       str(Path(args.source_dir) / "examples/list_modules.cpp")]
                + flags + [f"-Wl,-rpath,{dirs['libdir']}"])
    if not checks.expect(built.returncode == 0, f"the example does not build:\n{built.stderr}"):
        return
    linked = run(["ldd", str(program)]).stdout
    checks.expect(f"{dirs['libdir']}/{soname(args.source_dir)} " in linked,
                  f"the example does not use the installed library:\n{linked}")
    fixture = Path(args.fixture_root)
    expected = [line.split()[0] for line in (fixture / "proc/modules").read_text().splitlines()]
    listed = run([str(program), str(fixture)])
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    checks.expect(listed.returncode == 0 and names == expected,
                  f"list_modules {fixture} listed {names}, not {expected}: {listed.stderr}")
    print(f"list_modules {fixture}: {len(names)} modules, as in its /proc/modules")
    empty = run([str(program), str(scratch)])
    checks.expect(empty.returncode == 1 and "cannot read the module list" in empty.stderr,
                  f"list_modules on a root without /proc/modules gave {empty.returncode}: "
                  f"{empty.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--fixture-root", required=True)
    parser.add_argument("--static-lib", action="append", required=True, dest="static_libs",
                        help="a static library linked whole into libmodload.so")
    parser.add_argument("--man", action="store_true")
    parser.add_argument("--bpf", action="store_true", help="the library was built with libbpf")
    parser.add_argument("--meson", default="meson")
    parser.add_argument("--completion", action="append", default=[], dest="completions")
    args = parser.parse_args()
    for program in (args.meson, "pkg-config", "nm", "c++filt", "ldd"):
        if shutil.which(program) is None:
            cannot_run(f"{program} is not on PATH")
    cxx = shlex.split(os.environ.get("CXX", "c++"))
    if shutil.which(cxx[0]) is None:
        cannot_run(f"no C++ compiler {cxx[0]}")

    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="modload-install-") as temp:
        destdir = Path(temp) / "dest"
        scratch = Path(temp) / "scratch"
        scratch.mkdir()
        dirs = install(args, destdir, checks)
        if dirs is not None:
            check_files(args, destdir, dirs, checks)
            flags = check_pkg_config(destdir, dirs, checks, args.bpf)
            check_exports(args, dirs, checks)
            check_headers(cxx, flags, dirs, scratch, checks)
            check_example(args, cxx, flags, dirs, scratch, checks)
    for failure in checks.failures:
        print("FAIL", failure)
    print(f"{checks.passed} checks passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
