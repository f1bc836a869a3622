# A set of modules removed as a set: one rmmod naming a whole chain in the
# wrong order (innermost first), with and without -r, removes all of it in
# holder order; kmod's rmmod, which judges each name alone in the order
# given, fails on the same command line.  A set with one target held from
# outside it fails in kmod's words and removes nothing that depends on it.
# Then configfs after rmmod -r netconsole (and tsm on 6.12): its refcount
# is one above its holders while they are loaded (their configfs subsystem
# pins configfs's internal mount, with no entry in /proc/mounts) and drops
# in their exit, so it must be judged on the read at its turn.
. /lab/scenarios/lib.sh

# iptable_nat's closure (libcrc32c too: no xfs here) and the lab's
# provider/consumer pair, innermost first: every name but the last is held
# by one named after it.
SET="lab_provider x_tables ip_tables nf_defrag_ipv4 nf_defrag_ipv6 libcrc32c nf_conntrack nf_nat iptable_nat lab_consumer"

modprobe_quiet() {
	for _m in "$@"; do
		_o=$("$KMOD/modprobe" "$_m" 2>&1) || echo "# setup: modprobe $_m failed: $_o"
	done
}

load_set() {
	modprobe_quiet iptable_nat
	is_loaded lab_provider || kload lab_provider
	is_loaded lab_consumer || kload lab_consumer
}

# lsmod_shows DESC: our lsmod lists exactly the loaded modules, none of SET.
lsmod_shows() {
	_listed=$("$OURS/lsmod" | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')
	_loaded=$(loaded_modules | sort | tr '\n' ' ' | sed 's/ $//')
	_of_set=$(loaded_of "$SET")
	if [ "$_listed" = "$_loaded" ] && [ -z "$_of_set" ]; then
		ok "$1: lsmod lists none of the set, and the rest as before ($_listed)"
	else
		not_ok "$1: lsmod lists none of the set, and the rest as before"
		diag "lsmod: $_listed" "/sys/module: $_loaded"
	fi
}

snapshot
CRC_BEFORE=$(loaded_of "crc32c_intel crc32c_generic")
load_set
check "setup: the set is loaded" [ "$(loaded_of "$SET")" = "$(words "$SET")" ] ||
	diag "loaded: $(loaded_of "$SET")"
OTHERS=$(loaded_modules | sort)
# libcrc32c's soft dependency (its own "pre: crc32c"), which modprobe loaded
# with it: rmmod -r removes it after libcrc32c, as modprobe -r does.
SOFT=$(for _m in $(loaded_of "crc32c_intel crc32c_generic"); do
	case " $CRC_BEFORE " in *" $_m "*) ;; *) echo "$_m" ;; esac
done)
diag "libcrc32c's soft dependencies loaded with the set: ${SOFT:-none}"

# --- the whole set, innermost first ------------------------------------------

run kmod rmmod $SET
if [ "$RC_kmod" = 1 ] && [ -n "$(loaded_of "$SET")" ]; then
	ok "kmod 30's rmmod naming the set innermost first fails: exit 1, $(loaded_of "$SET" | wc -w) of $(echo $SET | wc -w) left loaded"
else
	not_ok "kmod 30's rmmod naming the set innermost first fails"
fi
diag "kmod: $(printf '%s\n' "$OUT_kmod" | head -n 3)"

for opts in "" "-r " "--wait " "--remove-holders "; do
	load_set
	run_limited 60 ours rmmod $opts$SET
	if [ "$RC_ours" = 0 ] && [ -z "$OUT_ours" ]; then
		ok "ours: rmmod ${opts}naming the set innermost first: exit 0, silent"
	else
		not_ok "ours: rmmod ${opts}naming the set innermost first: exit 0, silent"
		diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
	fi
	expect_left "ours: rmmod ${opts}on the set" "$SET" ""
	lsmod_shows "ours: rmmod ${opts}on the set"
	_may=$SET _but=
	if [ "$opts" = "-r " ] && [ -n "$SOFT" ]; then
		_may="$SET $SOFT" _but=" but $(echo $SOFT), libcrc32c's soft dependency"
	fi
	check "ours: rmmod ${opts}on the set: nothing outside it removed$_but" \
		[ -z "$(printf '%s\n' "$OTHERS" | while read -r _m; do is_loaded "$_m" || case " $_may " in *" $_m "*) ;; *) echo "$_m" ;; esac; done)" ]
	[ "$opts" = "-r " ] && check "ours: rmmod -r on the set: libcrc32c's soft dependencies removed too" \
		[ -z "$(loaded_of "$SOFT")" ]
done

# The case measured on Debian's tree: addi_watchdog is held by
# addi_apci_2032, both named (and with -r, comedi_pci and comedi left unused).
COMEDI="addi_watchdog addi_apci_2032 comedi_pci comedi"
modprobe_quiet addi_apci_2032
run kmod rmmod addi_watchdog addi_apci_2032
check "kmod 30's rmmod addi_watchdog addi_apci_2032 fails: exit 1, 'Module addi_watchdog is in use by: addi_apci_2032'" \
	eval '[ "$RC_kmod" = 1 ] && has_line "$OUT_kmod" "rmmod: ERROR: Module addi_watchdog is in use by: addi_apci_2032"' ||
	diag "kmod (exit $RC_kmod): $OUT_kmod"
modprobe_quiet addi_apci_2032
run ours rmmod -r addi_watchdog addi_apci_2032
check "ours: rmmod -r addi_watchdog addi_apci_2032: exit 0, silent" \
	eval '[ "$RC_ours" = 0 ] && [ -z "$OUT_ours" ]' || diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
expect_left "ours: rmmod -r addi_watchdog addi_apci_2032 (comedi_pci and comedi unused)" "$COMEDI" ""

# --- a target held from outside the set --------------------------------------

# nf_nat is held by iptable_nat, which is not named: nf_nat fails in kmod's
# words; nf_conntrack and libcrc32c, which nf_nat holds, are not removed.
PART="nf_conntrack libcrc32c nf_nat"
load_set
run ours rmmod -r $PART
run kmod rmmod $PART
if [ "$RC_ours" = 1 ] && [ "$OUT_ours" = "rmmod: ERROR: Module nf_nat is in use by: iptable_nat" ]; then
	ok "ours: rmmod -r $PART (iptable_nat holds nf_nat): exit 1, 'Module nf_nat is in use by: iptable_nat' alone"
else
	not_ok "ours: rmmod -r $PART (iptable_nat holds nf_nat): exit 1, 'Module nf_nat is in use by: iptable_nat' alone"
	diag "\$ rmmod -r $PART (exit $RC_ours)" "$OUT_ours"
fi
expect_left "ours: rmmod -r $PART: nothing removed" "$SET" "$SET"
run ours rmmod $PART
if [ "$RC_ours" = 1 ] && [ "$(printf '%s\n' "$OUT_ours" | head -n 1)" = "rmmod: ERROR: Module nf_nat is in use by: iptable_nat" ] &&
	has_line "$OUT_ours" "rmmod: ERROR: Module nf_conntrack is in use by: nf_nat"; then
	ok "ours: rmmod $PART: exit 1, nf_nat first in kmod's words, then nf_conntrack 'in use by: nf_nat'"
else
	not_ok "ours: rmmod $PART: exit 1, nf_nat first in kmod's words, then nf_conntrack 'in use by: nf_nat'"
	diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
fi
check "kmod 30's rmmod $PART: exit 1 as well" [ "$RC_kmod" = 1 ] || diag "kmod: $OUT_kmod"
expect_left "ours: rmmod $PART: nothing removed" "$SET" "$SET"
run ours lsmod
check "ours: lsmod still shows nf_nat used by iptable_nat" \
	eval 'printf "%s\n" "$OUT_ours" | grep -Eq "^nf_nat +[0-9]+ +1 iptable_nat$"' || diag "$OUT_ours"

run ours rmmod $SET
restore

# --- configfs, referenced by what its holders pinned ---------------------------

for m in netconsole tsm; do
	if ! grep -q "/$m\.ko" "/lib/modules/$LAB_KVER/modules.dep"; then
		diag "$m: not in this kernel's modules"
		continue
	fi
	modprobe_quiet $m
	_line=$(grep "^configfs " /proc/modules)
	_refs=$(echo "$_line" | awk '{ print $3 }')
	check "$m loaded: configfs's refcount ($_refs) is one above its holders ($m), with no configfs mount" \
		eval '[ "$_refs" = 2 ] && ! grep -q configfs /proc/mounts' || diag "$_line"
	run ours rmmod -r $m
	check "ours: rmmod -r $m: exit 0, silent" eval '[ "$RC_ours" = 0 ] && [ -z "$OUT_ours" ]' ||
		diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
	expect_left "ours: rmmod -r $m: configfs removed too, as kmod's modprobe -r does" "$m configfs" ""
	modprobe_quiet $m
	run kmod modprobe -r $m
	check "kmod 30's modprobe -r $m removes configfs too" eval '[ "$RC_kmod" = 0 ] && ! is_loaded configfs' ||
		diag "kmod (exit $RC_kmod): $OUT_kmod"
	# A dependency still in use at its turn is kept: an open configfs mount.
	modprobe_quiet $m
	mkdir -p /tmp/cfg && mount -t configfs none /tmp/cfg
	run ours rmmod -r -v $m
	check "ours: rmmod -r -v $m with configfs mounted: exit 0, $m removed, configfs kept and said so" \
		eval '[ "$RC_ours" = 0 ] && ! is_loaded $m && is_loaded configfs && printf "%s\n" "$OUT_ours" | grep -q "^rmmod: INFO: kept configfs: it is in use"' ||
		diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
	umount /tmp/cfg
	kunload configfs
done

finish
