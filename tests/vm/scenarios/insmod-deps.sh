# lab: cmdline nf_conntrack.hashsize=8192
# insmod explaining a refusal (the kernel's own log records about the
# module, and the dependencies that are not loaded) and loading dependencies
# first (-d, --deps; -n, --dry-run prints the plan): from modules.dep first
# (the distribution's iptable_nat chain, installed test modules), then from
# FILE's own folder (not below it), never from a folder others can write; a
# dependency the kernel refuses, parameters next to a dependency load.
#
# kmod 30's insmod has neither; modprobe, its nearest, works from modules.dep
# only and is run on the same cases for the record.
#
# The administrator's configuration (modprobe.d, /proc/cmdline, softdeps) is
# checked on the same chain, beside kmod's modprobe.
. /lab/scenarios/lib.sh

KDIR=/lib/modules/$LAB_KVER
DEP=$KDIR/modules.dep
DIST=$(find "$KDIR/kernel" -name 'iptable_nat.ko*' | head -n 1)

lines() {
	printf '%s\n' "$@"
}

last_line() {
	printf '%s\n' "$1" | tail -n 1
}

# expect DESC EXPECTED_RC EXPECTED_OUTPUT: ours' last run, exactly.
expect() {
	if [ "$RC_ours" = "$2" ] && [ "$OUT_ours" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "\$ $CMD" "expected (exit $2):" "$3" "ours (exit $RC_ours):" "$OUT_ours"
	fi
}

# expect_loaded DESC LIST: exactly the modules of LIST are loaded (of the
# lab's and of the iptable_nat chain).
expect_loaded() {
	_want=$(for _m in $2; do echo "$_m"; done | sort | tr '\n' ' ' | sed 's/ $//')
	_got=$(loaded_modules | grep -E '^(lab_|iptable_nat|nf_|ip_tables|x_tables|libcrc32c|crc32c)' | sort | tr '\n' ' ' | sed 's/ $//')
	if [ "$_got" = "$_want" ]; then
		ok "$1: loaded: ${_got:-nothing}"
	else
		not_ok "$1: loaded: ${_want:-nothing}"
		diag "loaded: ${_got:-nothing}" "\$ $CMD (exit $RC_ours)" "$OUT_ours"
	fi
}

# deps_of REL: the dependencies modules.dep lists for REL (a path relative
# to $KDIR), one a line.
deps_of() {
	awk -v r="$1" '{ p = $1; sub(/:$/, "", p) } p == r { for (i = 2; i <= NF; i++) print $i }' "$DEP"
}

module_of() {
	_n=${1##*/}
	_n=${_n%%.ko*}
	echo "$_n" | tr - _
}

# load_order_ok FILES: every file comes after its dependencies (by
# modules.dep) unless they are loaded already.  Sets ORDER_ERR when not.
load_order_ok() {
	_seen=" " ORDER_ERR=
	for _f in $1; do
		_rel=${_f#"$KDIR"/}
		for _d in $(deps_of "$_rel"); do
			is_loaded "$(module_of "$_d")" && continue
			case $_seen in
			*" $_d "*) ;;
			*) ORDER_ERR="$_rel comes before its dependency $_d"; return 1 ;;
			esac
		done
		_seen="$_seen$_rel "
	done
}

# check_dist_plan DESC EXPECTED_DEPS: ours' last run was insmod -d -n $DIST;
# the dependencies it lists (all but the last line, which is $DIST) must be
# exactly EXPECTED_DEPS (relative paths), in a loadable order.
check_dist_plan() {
	# The plan is on stdout, one path a line; the configuration's decisions
	# ("insmod: options for ...") are on stderr, which run merges.
	_plan=$(printf '%s\n' "$OUT_ours" | grep '^/')
	_want=$(printf '%s\n' $2 | sed "s|^|$KDIR/|" | sort | tr '\n' ' ')
	_got=$(printf '%s\n' "$_plan" | sed '$d' | sort | tr '\n' ' ')
	if [ "$RC_ours" = 0 ] && [ "$_got" = "$_want" ] && [ "$(last_line "$_plan")" = "$DIST" ]; then
		ok "$1: the dependencies not loaded yet, then the file"
	else
		not_ok "$1: the dependencies not loaded yet, then the file"
		diag "\$ $CMD (exit $RC_ours)" "$OUT_ours" "expected, in some order: $_want then $DIST"
	fi
	if load_order_ok "$_plan"; then
		ok "$1: each file after its dependencies"
	else
		not_ok "$1: each file after its dependencies"
		diag "$ORDER_ERR"
	fi
}

snapshot

# --- a refusal explained --------------------------------------------------------

run ours insmod $MODS/lab_consumer.ko
run kmod insmod $MODS/lab_consumer.ko
same_as_kmod "unknown symbol: kmod's 'Unknown symbol in module' first"
check "unknown symbol: then the kernel's record 'insmod: kernel: lab_consumer: Unknown symbol lab_provider_value (err -2)'" \
	has_line "$OUT_ours" "insmod: kernel: lab_consumer: Unknown symbol lab_provider_value (err -2)"
check "unknown symbol: last 'insmod: missing dependencies: lab_provider (load them first, or use insmod --deps)'" \
	[ "$(last_line "$OUT_ours")" = "insmod: missing dependencies: lab_provider (load them first, or use insmod --deps)" ]
[ "${LAB_VERBOSE:-0}" = 1 ] || diag "ours:" "$OUT_ours"

run ours insmod $MODS/lab_user.ko
check "two missing: both of the kernel's records" \
	eval 'has_line "$OUT_ours" "insmod: kernel: lab_user: Unknown symbol lab_dev_value (err -2)" &&
		has_line "$OUT_ours" "insmod: kernel: lab_user: Unknown symbol lab_provider_value (err -2)"'
check "two missing: 'insmod: missing dependencies: lab_dev lab_provider (...)'" \
	[ "$(last_line "$OUT_ours")" = "insmod: missing dependencies: lab_dev lab_provider (load them first, or use insmod --deps)" ]
kload lab_provider
run ours insmod $MODS/lab_user.ko
check "one of two loaded: 'insmod: missing dependencies: lab_dev (...)'" \
	[ "$(last_line "$OUT_ours")" = "insmod: missing dependencies: lab_dev (load them first, or use insmod --deps)" ]
expect_loaded "failed loads leave only what was there" lab_provider
kunload_lab

# --- dependencies from FILE's folder (no modules.dep) -----------------------------

mv "$DEP" "$DEP.hidden"

run ours insmod -d -n $MODS/lab_consumer.ko
expect "no modules.dep: insmod -d -n lab_consumer.ko prints lab_provider.ko beside it, then itself" 0 \
	"$(lines $MODS/lab_provider.ko $MODS/lab_consumer.ko)"
expect_loaded "insmod -d -n loads nothing" ""
run ours insmod -d $MODS/lab_consumer.ko
expect "no modules.dep: insmod -d lab_consumer.ko succeeds silently" 0 ""
expect_loaded "insmod -d lab_consumer.ko" "lab_provider lab_consumer"
check "lab_consumer holds lab_provider" [ -e /sys/module/lab_provider/holders/lab_consumer ]
kunload_lab

# --json: the same plan and load as data on stdout, against the kernel's table.
run_json insmod -d -n $MODS/lab_consumer.ko
check "insmod --json -d -n: the plan, planned, lab_provider.ko first; nothing loaded" \
	json_has '"status": 0' '"dry_run": true' \
	"\"plan\": [{\"name\": \"lab_provider\", \"path\": \"$MODS/lab_provider.ko\", \"role\": \"dependency\", \"result\": \"planned\"" \
	'"loaded": []' || diag "$JSON_OUT"
expect_loaded "insmod --json -d -n loads nothing" ""
run_json insmod -d $MODS/lab_consumer.ko
check "insmod --json -d: status 0, lab_provider then lab_consumer loaded, no failure" \
	json_has '"status": 0' '"loaded": ["lab_provider", "lab_consumer"]' '"failures": []' ||
	diag "$JSON_OUT"
expect_loaded "insmod --json -d lab_consumer.ko" "lab_provider lab_consumer"
kunload_lab

mkdir -p /tmp/tree/sub
cp $MODS/lab_consumer.ko /tmp/tree/
cp $MODS/lab_provider.ko /tmp/tree/sub/
run ours insmod -d -n /tmp/tree/lab_consumer.ko
check "no modules.dep: a dependency in a folder below FILE's is not looked for (exit 1, not found)" \
	eval '[ "$RC_ours" = 1 ] && printf "%s\n" "$OUT_ours" | grep -q "dependency lab_provider not found in modules.dep and /tmp/tree"'
diag "ours (exit $RC_ours): $OUT_ours"

# A folder any user can write: whoever wrote lab_provider.ko there would get
# root to load it.
mv /tmp/tree/sub/lab_provider.ko /tmp/tree/
chmod 0777 /tmp/tree
run ours insmod -d /tmp/tree/lab_consumer.ko
check "a world-writable folder: refused, nothing loaded, the folder named as not trusted" \
	eval '[ "$RC_ours" = 1 ] && printf "%s\n" "$OUT_ours" | grep -q "folder /tmp/tree is writable by others (mode 0777); not trusted"'
diag "ours (exit $RC_ours): $OUT_ours"
expect_loaded "a world-writable folder: nothing loaded" ""
chmod 0755 /tmp/tree
run ours insmod -d -v /tmp/tree/lab_consumer.ko
check "the same folder, 0755: loaded, and -v says lab_provider came from beside the module" \
	eval '[ "$RC_ours" = 0 ] && printf "%s\n" "$OUT_ours" | grep -q "^insmod: INFO: dependency lab_provider: /tmp/tree/lab_provider.ko (beside the module)$"'
expect_loaded "insmod -d /tmp/tree/lab_consumer.ko" "lab_provider lab_consumer"
kunload_lab

# Parameters go to FILE only: a dependency given tag= would make the kernel
# log "unknown parameter 'tag' ignored".
dmesg -c >/dev/null
run ours insmod -d $MODS/lab_user.ko 'tag=two words'
expect "insmod -d lab_user.ko 'tag=two words': two dependencies and a parameter" 0 ""
expect_loaded "insmod -d lab_user.ko" "lab_dev lab_provider lab_user"
check "lab_user's tag is 'two words'" [ "$(param lab_user tag)" = "two words" ]
check "the dependencies were given no parameters (no 'unknown parameter' in the kernel log)" \
	eval '! dmesg | grep -q "unknown parameter"'
kunload_lab

# A dependency the kernel refuses: a stale lab_provider.ko, built for the
# other kernel, next to a good lab_dev.ko.  lab_user depends on both.
mkdir -p /tmp/stale
cp $MODS/lab_user.ko $MODS/lab_dev.ko /tmp/stale/
cp /lab/other/lab_provider.ko /tmp/stale/
run ours insmod -d -n /tmp/stale/lab_user.ko
PLAN=$OUT_ours
check "stale dependency: the plan lists lab_dev.ko and lab_provider.ko, then lab_user.ko" \
	[ "$(printf '%s\n' "$PLAN" | sort | tr '\n' ' ')" = "/tmp/stale/lab_dev.ko /tmp/stale/lab_provider.ko /tmp/stale/lab_user.ko " ]
# What was loaded before the failure: the plan's lines before the stale file,
# removed again newest first.
before=$(printf '%s\n' "$PLAN" | sed '/lab_provider\.ko$/,$d' | sed 's|.*/||; s|\.ko$||' | tr '\n' ' ' | sed 's/ $//')
again=$(printf '%s\n' $before | tac | tr '\n' ' ' | sed 's/ $//')
if [ -n "$before" ]; then
	stopped="insmod: stopped before loading /tmp/stale/lab_user.ko; loaded for it and removed again: $again"
else
	stopped="insmod: stopped before loading /tmp/stale/lab_user.ko; no dependency was loaded"
fi
run ours insmod -d /tmp/stale/lab_user.ko
check "stale dependency: exit 1" [ "$RC_ours" = 1 ]
check "stale dependency: 'could not insert module /tmp/stale/lab_provider.ko: Invalid module format' first" \
	[ "$(printf '%s\n' "$OUT_ours" | head -n 1)" = "insmod: ERROR: could not insert module /tmp/stale/lab_provider.ko: Invalid module format" ]
# 6.1 logs "lab_provider: disagrees about version of symbol module_layout",
# 6.12 "module lab_provider: .gnu.linkonce.this_module section size must
# match ...": both are the kernel's records about lab_provider.
if printf '%s\n' "$OUT_ours" | grep -Eq "^insmod: kernel: (module )?lab_provider: "; then
	ok "stale dependency: the kernel's record about lab_provider"
else
	not_ok "stale dependency: the kernel's record about lab_provider"
	diag "the kernel logged:" "$(dmesg | grep -F lab_provider | sed 's/^\[[ 0-9.]*\] //' | tail -n 2)"
fi
check "stale dependency: last '$stopped'" [ "$(last_line "$OUT_ours")" = "$stopped" ]
[ "${LAB_VERBOSE:-0}" = 1 ] || diag "ours:" "$OUT_ours"
expect_loaded "stale dependency: what was loaded for it is removed again" ""
run ours insmod -d --keep-dependencies /tmp/stale/lab_user.ko
check "stale dependency, --keep-dependencies: exit 1, what was loaded before stays loaded" \
	eval '[ "$RC_ours" = 1 ] && [ "$(last_line "$OUT_ours")" = "insmod: stopped before loading /tmp/stale/lab_user.ko; loaded for it and still loaded: $again" ]'
diag "ours (exit $RC_ours): $OUT_ours"
expect_loaded "stale dependency, --keep-dependencies: kept" "$before"
kunload_lab

# FILE itself refused (built for the other kernel) after its dependency
# loaded: the dependency goes again, and the table is as it was.
mkdir -p /tmp/stale2
cp $MODS/lab_provider.ko /tmp/stale2/
cp /lab/other/lab_consumer.ko /tmp/stale2/
run ours insmod -d /tmp/stale2/lab_consumer.ko
check "FILE refused: exit 1, 'its dependencies loaded for it and removed again: lab_provider' last" \
	eval '[ "$RC_ours" = 1 ] && [ "$(last_line "$OUT_ours")" = "insmod: its dependencies loaded for it and removed again: lab_provider" ]'
diag "ours (exit $RC_ours): $OUT_ours"
expect_loaded "FILE refused: nothing left loaded" ""
run_json insmod -d /tmp/stale2/lab_consumer.ko
check "insmod --json, FILE refused: status 1, kind loading, lab_provider removed again, the words" \
	json_has '"status": 1' '"removed": ["lab_provider"]' '"kind": "loading"' \
	'"dependency": false' '"words": ["ERROR: could not insert module /tmp/stale2/lab_consumer.ko: ' \
	'"its dependencies loaded for it and removed again: lab_provider"]' || diag "$JSON_OUT"
expect_loaded "insmod --json, FILE refused: nothing left loaded" ""
kload lab_provider
run ours insmod -d /tmp/stale2/lab_consumer.ko
check "FILE refused, its dependency loaded before: exit 1, and nothing said of dependencies" \
	eval '[ "$RC_ours" = 1 ] && ! printf "%s\n" "$OUT_ours" | grep -q "dependencies"'
expect_loaded "FILE refused: the dependency loaded before the call stays" "lab_provider"
kunload_lab

mkdir -p /tmp/lonely
cp $MODS/lab_consumer.ko /tmp/lonely/
run ours insmod -d /tmp/lonely/lab_consumer.ko
check "a dependency found nowhere: exit 1, one line naming lab_provider" \
	eval '[ "$RC_ours" = 1 ] && [ "$(printf "%s\n" "$OUT_ours" | wc -l)" = 1 ] && printf "%s\n" "$OUT_ours" | grep -q "lab_provider"'
diag "ours: $OUT_ours"
expect_loaded "a dependency found nowhere: nothing loaded" ""

mv "$DEP.hidden" "$DEP"

# --- modules.dep exists but does not list FILE's dependencies ---------------------

# The guest's natural state: modules.dep describes the distribution's
# modules; the test modules are elsewhere.  A name modules.dep does not know
# is looked for beside FILE.
run ours insmod -d -n $MODS/lab_consumer.ko
check "modules.dep without lab modules: insmod -d -n lab_consumer.ko finds lab_provider.ko beside it" \
	[ "$RC_ours" = 0 -a "$OUT_ours" = "$(lines $MODS/lab_provider.ko $MODS/lab_consumer.ko)" ]
diag "ours (exit $RC_ours): $OUT_ours"
restore

# --- the distribution's iptable_nat chain, from modules.dep -------------------------

REL=${DIST#"$KDIR"/}
DIST_DEPS=$(deps_of "$REL")
run kmod modprobe -D iptable_nat
KMOD_PLAN=$OUT_kmod
diag "kmod 30: modprobe -D iptable_nat (exit $RC_kmod):" "$KMOD_PLAN"
# modprobe's files: its dependencies from modules.dep and the soft
# dependencies (libcrc32c's pre: crc32c, which modules.alias gives as
# crc32c-intel), as relative paths, iptable_nat's own line left out.
KMOD_FILES=$(printf '%s\n' "$KMOD_PLAN" | awk '$1 == "insmod" { print $2 }' | sed "s|^$KDIR/||" | grep -v "^$REL\$")
run ours insmod -d -n "$DIST"
check_dist_plan "insmod -d -n ${DIST##*/}, as modprobe -D with its soft dependencies" "$KMOD_FILES"
expect_loaded "insmod -d -n ${DIST##*/} loads nothing" ""
[ "${LAB_VERBOSE:-0}" = 1 ] || diag "ours:" "$OUT_ours"
names=iptable_nat
for d in $KMOD_FILES; do names="$names $(module_of "$d")"; done
run ours insmod -d "$DIST"
expect "insmod -d ${DIST##*/} succeeds silently" 0 ""
expect_loaded "insmod -d ${DIST##*/}" "$names"
run ours lsmod
check "lsmod: iptable_nat loaded, unused" eval 'printf "%s\n" "$OUT_ours" | grep -Eq "^iptable_nat +[0-9]+  0$"'
check "lsmod: nf_nat used by iptable_nat" eval 'printf "%s\n" "$OUT_ours" | grep -Eq "^nf_nat +[0-9]+  1 iptable_nat$"'

# (4096, the default on this guest's memory, would prove nothing.)
check "the kernel command line's nf_conntrack.hashsize=8192 reached nf_conntrack" \
	[ "$(param nf_conntrack hashsize)" = 8192 ]

# Part of the chain already there (nf_conntrack and what it needs): only
# the rest is planned.
kunload iptable_nat nf_nat ip_tables x_tables
run ours insmod -d -n "$DIST"
rest=
for d in $KMOD_FILES; do is_loaded "$(module_of "$d")" || rest="$rest $d"; done
check_dist_plan "nf_conntrack already loaded: insmod -d -n ${DIST##*/}" "$rest"
restore

# --- the administrator's configuration ----------------------------------------------

mkdir -p /etc/modprobe.d
# The usual way to disable a module (hardening guides): an install command.
printf '# hardening\ninstall nf_conntrack /bin/false\n' >/etc/modprobe.d/harden.conf
run ours insmod -d "$DIST"
check "install nf_conntrack /bin/false: insmod -d ${DIST##*/} exits 1 naming the file and line" \
	eval '[ "$RC_ours" = 1 ] && has_line "$OUT_ours" "insmod: ERROR: could not insert module $DIST: nf_conntrack is disabled by /etc/modprobe.d/harden.conf:2: install nf_conntrack /bin/false"'
diag "ours (exit $RC_ours): $OUT_ours"
expect_loaded "install nf_conntrack /bin/false: nothing loaded" ""
run ours insmod -d -n "$DIST"
check "... and insmod -d -n says the same, printing no plan" eval '[ "$RC_ours" = 1 ] && ! printf "%s\n" "$OUT_ours" | grep -q "^/"'
run kmod modprobe iptable_nat
check "kmod's modprobe iptable_nat fails there too (exit $RC_kmod)" [ "$RC_kmod" != 0 ]
diag "kmod: $OUT_kmod"
restore
run ours insmod "$(find "$KDIR/kernel" -name 'x_tables.ko*' | head -n 1)"
check "plain insmod loads a file it is given whatever the configuration (x_tables)" [ "$RC_ours" = 0 ]
restore

# Options of modprobe.d go first, the kernel command line's after them (kmod
# reads /proc/cmdline after its files), then insmod's own: the kernel takes
# the last. expect_hashsize is rounded up to a page of buckets: 1000 reads back 1024,
# the default (hashsize/256) 512.
printf 'options nf_conntrack expect_hashsize=1000 hashsize=1024\n' >/etc/modprobe.d/harden.conf
run ours insmod -d -v "$DIST"
check "options nf_conntrack expect_hashsize=1000: applied to the dependency (1024)" \
	eval '[ "$RC_ours" = 0 ] && [ "$(param nf_conntrack expect_hashsize)" = 1024 ]'
check "hashsize=1024 in modprobe.d, 8192 on the kernel command line: 8192, as modprobe orders them" \
	[ "$(param nf_conntrack hashsize)" = 8192 ]
diag "ours (exit $RC_ours): $OUT_ours" "expect_hashsize $(param nf_conntrack expect_hashsize), hashsize $(param nf_conntrack hashsize)"
check "-v names the options line" \
	has_line "$OUT_ours" "insmod: INFO: options for nf_conntrack from /etc/modprobe.d/harden.conf:1: options nf_conntrack expect_hashsize=1000 hashsize=1024"
restore
run kmod modprobe iptable_nat
check "kmod's modprobe gives the same: expect_hashsize 1024, hashsize 8192" \
	eval '[ "$(param nf_conntrack expect_hashsize)" = 1024 ] && [ "$(param nf_conntrack hashsize)" = 8192 ]'
diag "kmod (exit $RC_kmod): $OUT_kmod" "expect_hashsize $(param nf_conntrack expect_hashsize), hashsize $(param nf_conntrack hashsize)"
restore

# A configuration file another user could have written is not read.
printf 'install nf_conntrack /bin/false\n' >/etc/modprobe.d/harden.conf
chmod 0666 /etc/modprobe.d/harden.conf
run ours insmod -d "$DIST"
check "a world-writable harden.conf is ignored and said: the chain loads" \
	eval '[ "$RC_ours" = 0 ] && printf "%s\n" "$OUT_ours" | grep -q "^insmod: ignored /etc/modprobe.d/harden.conf: writable by others"'
diag "ours (exit $RC_ours): $OUT_ours"
restore
rm -f /etc/modprobe.d/harden.conf

# A soft dependency in modprobe.d, by alias, around a dependency.
printf 'softdep nf_nat pre: dummy post: crc32c\n' >/etc/modprobe.d/soft.conf
run ours insmod -d -n "$DIST"
order=$(printf '%s\n' "$OUT_ours" | sed 's|.*/||; s|\.ko.*||' | tr '\n' ' ')
check "softdep nf_nat pre: dummy: dummy.ko planned before nf_nat.ko" \
	eval 'case "$order" in *"dummy "*"nf_nat "*) true ;; *) false ;; esac'
diag "ours: $order"
run kmod modprobe -D iptable_nat
diag "kmod 30: modprobe -D iptable_nat:" "$OUT_kmod"
run ours insmod -d "$DIST"
check "softdep: insmod -d loads dummy too" eval '[ "$RC_ours" = 0 ] && is_loaded dummy'
restore
rm -f /etc/modprobe.d/soft.conf

# --- test modules listed in modules.dep (installed, as modules_install does) ------

# modules.dep (depmod's answer) comes first for every name it knows, wherever
# FILE is.
install_lab_modules
run ours insmod -d -n $KDIR/extra/lab_consumer.ko
expect "lab modules in modules.dep: insmod -d -n extra/lab_consumer.ko takes lab_provider from there" 0 \
	"$(lines $KDIR/extra/lab_provider.ko $KDIR/extra/lab_consumer.ko)"
run ours insmod -d -n $MODS/lab_consumer.ko
expect "lab modules in modules.dep: out-of-tree lab_consumer.ko takes lab_provider from modules.dep too" 0 \
	"$(lines $KDIR/extra/lab_provider.ko $MODS/lab_consumer.ko)"
run ours insmod -d $KDIR/extra/lab_consumer.ko
expect "... and loads it" 0 ""
expect_loaded "insmod -d lab_consumer.ko with modules.dep" "lab_provider lab_consumer"

finish
