# lab: tree
# lab: memory 1024
# Traffic control holds modules (issue 19): Debian's own sch_*, cls_* and act_*
# modules, set up with Debian's /usr/sbin/tc (busybox's tc applet in /bin is
# another program), and our lsmod --refs naming every reference by what the
# kernel counts: one per qdisc, one per tcf_proto (block, chain, priority),
# one per action. Each module's list is compared exactly, with nothing left
# unattributed:
#   - `tc qdisc add dev lo root netem delay 1ms`: sch_netem 1, and rmmod
#     sch_netem naming the qdisc after kmod's line;
#   - an ingress qdisc with a u32 filter redirecting with mirred: sch_ingress,
#     cls_u32 and act_mirred 1 each, --json saying the same;
#   - an htb tree (a class, netem under it, u32 filters on the qdisc and the
#     class), a second chain on ingress and a standalone mirred action;
#   - three of the release commands lsmod gives, run: they let go;
#   - clsact with a matchall filter and a gact action on egress (6.1 finds
#     clsact's module through the alias sch_clsact, 6.12 through
#     net-sch-clsact);
#   - a u32 filter on a shared block (ingress_block 22), named by the block.
. /lab/scenarios/lib.sh

TC=/usr/sbin/tc

refcount() {
	awk -v m="$1" '$1 == m { print $3 }' /proc/modules
}

header() {
	echo "$1: refcount $(refcount "$1")"
}

# tc_check DESC EXPECTED MODULE...: `lsmod --refs MODULE...` prints EXPECTED
# exactly, exits 0 and says nothing on stderr.
tc_check() {
	_desc=$1 _exp=$2
	shift 2
	_out=$("$OURS/lsmod" --refs "$@" 2>/tmp/refs.err)
	_rc=$?
	_err=$(cat /tmp/refs.err)
	if [ "$_rc" = 0 ] && [ "$_out" = "$_exp" ] && [ -z "$_err" ]; then
		ok "$_desc"
		[ "${LAB_VERBOSE:-0}" = 1 ] && diag "$_out"
	else
		not_ok "$_desc"
		diag "\$ lsmod --refs $* (exit $_rc)" "expected:" "$_exp" "ours:" "$_out" "stderr:" "$_err" \
			"tc says:" "$($TC qdisc show; $TC filter show dev lo ingress; $TC actions ls action mirred)"
	fi
}

# tc_do ARGS...: /usr/sbin/tc ARGS, said when it fails.
tc_do() {
	"$TC" "$@" >/tmp/tc.out 2>&1 || diag "setup: tc $* failed: $(cat /tmp/tc.out)"
}

MODULES="sch_netem sch_ingress sch_htb cls_u32 cls_matchall act_mirred act_gact"
for _m in $MODULES; do
	"$KMOD/modprobe" "$_m" || diag "setup: modprobe $_m failed"
done

# --- netem as the root qdisc ---------------------------------------------------
tc_do qdisc add dev lo root netem delay 1ms
NETEM=$($TC qdisc show dev lo | awk '$2 == "netem" { print $3 }')
NETEM_LINE="tc qdisc netem $NETEM on lo (root); let go with: tc qdisc del dev lo root"
tc_check "a netem root qdisc holds sch_netem: named with the command that lets go" \
	"sch_netem: refcount 1
  $NETEM_LINE" sch_netem

run ours rmmod sch_netem
check "rmmod sch_netem: in use, kmod's line, then the qdisc" eval '
	[ "$RC_ours" = 1 ] &&
	has_line "$OUT_ours" "rmmod: ERROR: Module sch_netem is in use" &&
	has_line "$OUT_ours" "rmmod: sch_netem is held by $NETEM_LINE"' || show_both
check "sch_netem is still loaded" is_loaded sch_netem

# --- ingress, a u32 filter, a mirred action --------------------------------------
tc_do qdisc add dev lo ingress
tc_do filter add dev lo parent ffff: protocol ip u32 match u32 0 0 action mirred egress redirect dev lo
MIRRED=$($TC actions ls action mirred | sed -n 's/.*index \([0-9]*\) .*/\1/p' | head -n 1)
tc_check "ingress, a u32 filter and its mirred action: one reference each, each named" \
	"sch_ingress: refcount 1
  tc qdisc ingress ffff: on lo (ingress); let go with: tc qdisc del dev lo ingress
cls_u32: refcount 1
  tc filter u32 on lo parent ffff: protocol ip prio 49152; let go with: tc filter del dev lo parent ffff: prio 49152
act_mirred: refcount 1
  tc action mirred index $MIRRED (bound to 1 filter)" sch_ingress cls_u32 act_mirred

JSON_OUT=$("$OURS/lsmod" --refs --json cls_u32 act_mirred 2>/dev/null | tr -d '\n')
check "--json: kind tc, nothing unattributed, the release command" eval '
	case $JSON_OUT in *"\"name\": \"cls_u32\", \"refcount\": 1, \"unattributed\": 0,"*) ;; *) false ;; esac &&
	case $JSON_OUT in *"\"name\": \"act_mirred\", \"refcount\": 1, \"unattributed\": 0,"*) ;; *) false ;; esac &&
	case $JSON_OUT in *"\"kind\": \"tc\""*) ;; *) false ;; esac &&
	case $JSON_OUT in *"\"release_command\": \"tc filter del dev lo parent ffff: prio 49152\""*) ;; *) false ;; esac' ||
	diag "$JSON_OUT"

# --- an htb tree, a second chain, a standalone action ---------------------------
tc_do qdisc del dev lo root
tc_do qdisc add dev lo root handle 1: htb default 10
tc_do class add dev lo parent 1: classid 1:10 htb rate 10mbit
tc_do qdisc add dev lo parent 1:10 handle 10: netem delay 1ms
tc_do filter add dev lo parent 1: protocol ip prio 1 u32 match ip dst 127.0.0.1/32 flowid 1:10
tc_do filter add dev lo parent 1:10 protocol ip prio 2 u32 match u32 0 0
tc_do filter add dev lo parent ffff: chain 1 protocol ip prio 3 u32 match u32 0 0
tc_do actions add action mirred egress redirect dev lo index 7
tc_check "an htb tree: the class's netem, filters on the qdisc, the class and two chains, a standalone action" \
	"sch_htb: refcount 1
  tc qdisc htb 1: on lo (root); let go with: tc qdisc del dev lo root
sch_netem: refcount 1
  tc qdisc netem 10: on lo (parent 1:10); let go with: tc qdisc del dev lo parent 1:10
cls_u32: refcount 4
  tc filter u32 on lo parent 1: protocol ip prio 1; let go with: tc filter del dev lo parent 1: prio 1
  tc filter u32 on lo parent 1:10 protocol ip prio 2; let go with: tc filter del dev lo parent 1:10 prio 2
  tc filter u32 on lo parent ffff: protocol ip prio 49152; let go with: tc filter del dev lo parent ffff: prio 49152
  tc filter u32 on lo parent ffff: chain 1 protocol ip prio 3; let go with: tc filter del dev lo parent ffff: chain 1 prio 3
act_mirred: refcount 2
  tc action mirred index $MIRRED (bound to 1 filter)
  tc action mirred index 7; let go with: tc actions delete action mirred index 7" \
	sch_htb sch_netem cls_u32 act_mirred

# The release commands our lines give let go: run three of them.
"$OURS/lsmod" --refs cls_u32 act_mirred 2>/dev/null | sed -n 's/.*; let go with: tc //p' |
	grep -e ' index 7$' -e ' chain 1 ' -e ' parent 1:10 ' >/tmp/release.txt
while read -r _cmd; do
	# shellcheck disable=SC2086 # the command's words
	tc_do $_cmd
done </tmp/release.txt
check "three release commands from lsmod --refs let go: cls_u32 2, act_mirred 1" eval '
	[ "$(wc -l </tmp/release.txt)" = 3 ] && [ "$(refcount cls_u32)" = 2 ] &&
	[ "$(refcount act_mirred)" = 1 ]' ||
	diag "$(cat /tmp/release.txt)" "cls_u32 $(refcount cls_u32), act_mirred $(refcount act_mirred)"

# --- clsact with matchall and gact -------------------------------------------------
tc_do qdisc del dev lo root
tc_do qdisc del dev lo ingress
tc_do actions flush action mirred
tc_do qdisc add dev lo clsact
tc_do filter add dev lo egress protocol all prio 5 matchall action gact pass
GACT=$($TC actions ls action gact | sed -n 's/.*index \([0-9]*\) .*/\1/p' | head -n 1)
tc_check "clsact (sch_ingress) with a matchall filter on egress and a gact action" \
	"sch_ingress: refcount 1
  tc qdisc clsact ffff: on lo (clsact); let go with: tc qdisc del dev lo clsact
cls_matchall: refcount 1
  tc filter matchall on lo parent ffff:fff3 protocol all prio 5; let go with: tc filter del dev lo parent ffff:fff3 prio 5
act_gact: refcount 1
  tc action gact index $GACT (bound to 1 filter)
sch_netem: refcount 0
cls_u32: refcount 0
act_mirred: refcount 0" sch_ingress cls_matchall act_gact sch_netem cls_u32 act_mirred

# --- a shared block: its filters are the block's, not the device's ----------------
tc_do qdisc del dev lo clsact
tc_do qdisc add dev lo ingress_block 22 ingress
tc_do filter add block 22 protocol ip prio 1 u32 match u32 0 0
tc_check "a filter on a shared block (ingress_block 22): named by the block" \
	"cls_u32: refcount 1
  tc filter u32 on block 22 protocol ip prio 1; let go with: tc filter del block 22 prio 1" cls_u32

tc_do qdisc del dev lo ingress
for _m in $MODULES; do
	kunload "$_m"
done
finish
