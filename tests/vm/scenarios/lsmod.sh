# lsmod: our output against kmod's, byte for byte, on a real set of
# distribution modules with dependency chains (iptable_nat's chain and xfs,
# which share libcrc32c) plus the test modules in every refcount situation:
# holders, an open fd, a self reference, a permanent module, a dashed name.
# The only normalisation: names within the "Used by" list are sorted, since
# both tools list /sys/module/X/holders in directory order and that order is
# not part of the format.
. /lab/scenarios/lib.sh

sort_holders() {
	awk 'NR > 1 && NF == 4 {
		n = split($4, a, ",")
		for (i = 2; i <= n; i++) {
			v = a[i]; j = i - 1
			while (j > 0 && a[j] > v) { a[j + 1] = a[j]; j-- }
			a[j + 1] = v
		}
		s = a[1]
		for (i = 2; i <= n; i++) s = s "," a[i]
		line = $0
		sub(/[^ ]+$/, s, line)
		print line
		next
	}
	{ print }'
}

# compare_lsmod DESC: run both lsmods on the current state and compare.
compare_lsmod() {
	run ours lsmod
	run kmod lsmod
	if [ "$OUT_ours" = "$OUT_kmod" ]; then
		[ "${LAB_VERBOSE:-0}" = 1 ] && show_both
		ok "$1 (identical)"
		return
	fi
	[ "${LAB_VERBOSE:-0}" = 1 ] && show_both
	_raw_ours=$OUT_ours
	OUT_ours=$(printf '%s\n' "$OUT_ours" | sort_holders)
	OUT_kmod=$(printf '%s\n' "$OUT_kmod" | sort_holders)
	if [ "$OUT_ours" = "$OUT_kmod" ]; then
		ok "$1 (identical up to the order within Used by)"
		OUT_ours=$_raw_ours
		return
	fi
	not_ok "$1"
	show_both
	diag "diff (kmod -> ours):"
	printf '%s\n' "$OUT_kmod" >/tmp/lsmod.kmod
	printf '%s\n' "$OUT_ours" >/tmp/lsmod.ours
	diag "$(diff /tmp/lsmod.kmod /tmp/lsmod.ours)"
}

# ours_line PATTERN DESC: sanity checks on our output itself (an extended
# regex over one line), so a kernel-side surprise shows up as such.
ours_line() {
	if printf '%s\n' "$OUT_ours" | grep -Eq "$1"; then
		ok "$2"
	else
		not_ok "$2"
		diag "no line matching /$1/ in ours:" "$OUT_ours"
	fi
}

compare_lsmod "lsmod with no modules loaded"
check "ours prints the header when nothing is loaded" \
	[ "$OUT_ours" = "Module                  Size  Used by" ]

# Distribution modules through kmod's modprobe and the image's modules.dep.
for m in iptable_nat xfs; do
	if ! _o=$("$KMOD/modprobe" $m 2>&1); then
		echo "# setup: modprobe $m failed: $_o"
	fi
done
check "setup: iptable_nat chain and xfs loaded, sharing libcrc32c" \
	eval 'is_loaded iptable_nat && is_loaded nf_nat && is_loaded xfs && is_loaded libcrc32c'

compare_lsmod "lsmod with iptable_nat's chain and xfs"

# Test modules in every refcount situation.
kload lab_provider
kload lab_consumer
kload lab_dev
exec 3</dev/lab_dev
kload lab_hold hold_ms=600000
kload lab_perm
kload lab-dash
kload lab_params 'name="two words"' values=1,2

compare_lsmod "lsmod with distribution and test modules"
ours_line '^lab_provider +[0-9]+  1 lab_consumer$' "ours: lab_provider used by lab_consumer"
ours_line '^lab_dev +[0-9]+  1$' "ours: lab_dev refcount 1 from the open fd, no holders"
ours_line '^lab_hold +[0-9]+  1$' "ours: lab_hold refcount 1 from its self reference"
ours_line '^lab_dash +[0-9]+  0$' "ours: lab-dash.ko listed as lab_dash"
ours_line '^libcrc32c +[0-9]+  [0-9]+ ([a-z_]+,)+[a-z_]+$' "ours: libcrc32c with several holders"

# lsmod for scripts and people, on the same real state.
# ours_has ERE: a line of ours' last output matches ERE as a whole.
ours_has() { printf '%s\n' "$OUT_ours" | grep -qxE -- "$1"; }
run ours lsmod --json
check "ours --json: one object per /proc/modules line" \
	[ "$(printf '%s\n' "$OUT_ours" | grep -c '"name": ')" -eq "$(wc -l < /proc/modules)" ]
check "ours --json: lab_dev has refcount 1, no holders, taints, Live" \
	ours_has '  \{"name": "lab_dev", "size": [0-9]+, "refcount": 1, "holders": \[\], "state": "Live", "taints": "[A-Z]*O[A-Z]*", "permanent": false\},?'
check "ours --json: lab_perm is permanent" \
	ours_has '.*"name": "lab_perm",.*"permanent": true\},?'
run ours lsmod --tree
check "ours --tree: lab_consumer at the top, lab_provider below it" \
	has_line "$OUT_ours" 'lab_consumer'
check "ours --tree: lab_provider nested under lab_consumer" \
	has_line "$OUT_ours" '`-- lab_provider'
check "ours --tree: lab_dev marked as used from outside modules" \
	has_line "$OUT_ours" 'lab_dev [1 reference from outside modules]'
run ours lsmod --sort=size xfs lab_dev
check "ours --sort=size with names: xfs before lab_dev" \
	[ "$(printf '%s\n' "$OUT_ours" | sed -n '2s/ .*//p;3s/ .*//p' | tr '\n' ' ')" = "xfs lab_dev " ]
run ours lsmod lab_dev no_such_module
check "ours lsmod NAME: exit 1 when one is not loaded, naming it" \
	[ "$RC_ours" -eq 1 -a -n "$(printf '%s\n' "$OUT_ours" | grep -x 'lsmod: ERROR: Module no_such_module is not currently loaded')" ]

# Change refcounts and holders, compare again.
exec 3<&-
kunload lab_consumer lab_dash
"$KMOD/rmmod" xfs >/dev/null 2>&1
compare_lsmod "lsmod after closing the fd and removing lab_consumer, lab_dash, xfs"
ours_line '^lab_provider +[0-9]+  0$' "ours: lab_provider unused after lab_consumer left"
ours_line '^lab_dev +[0-9]+  0$' "ours: lab_dev refcount 0 after the fd closed"

finish
