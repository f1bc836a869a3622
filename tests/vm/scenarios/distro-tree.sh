# lab: tree
# lab: memory 1024
# lab: timeout 840
# The distribution's own module tree, beside kmod's modprobe: for a fixed
# sample of its module files (every Nth, sorted),
#   - planning: `insmod -d -n FILE` names the files `modprobe --show-depends
#     NAME` names (its insmod lines; builtin lines are no files), as a set,
#     each after its modules.dep dependencies;
#   - loading: what kmod's modprobe loads (then modprobe -r and kmod's rmmod
#     clean up), ours loads with `insmod -d FILE`: the same modules, and
#     `rmmod -r NAME` leaves the table as it found it;
#   - many at once: with the sample's loadable modules all loaded (by kmod's
#     modprobe), our lsmod prints kmod's; the modules the kernel then pins
#     (more references than their holders account for, or a holder outside
#     the set: a crypto algorithm in use, dccp held by dccp_ipv4) and those
#     they use are left out, and said, and kmod's rmmod must fail on each;
#     one `rmmod -r` naming the rest removes all of it and none of the start
#     table; of those left out, the ones the rest uses (directly or as soft
#     dependencies) may go with it once unused, as with modprobe -r.
# rmmod -r's waits for references that go a moment after their holder
# (configfs's after netconsole) are said, in totals and by module.
# Modules that must not load in a VM that has to keep running are skipped,
# and said.  The sample is chosen on the kernel command line (the lab's
# --append, as scripts/distro-tree does for the whole tree):
#   lab.tree_plan=N   plan every Nth file (default 4; 1: every file)
#   lab.tree_load=N   load every Nth file (default 10; 1: every file)
#   lab.tree_limit=S  seconds a load or removal may take (default 30)
. /lab/scenarios/lib.sh

KDIR=/lib/modules/$LAB_KVER
DEP=$KDIR/modules.dep
PLAN_EVERY=4
LOAD_EVERY=10
LIMIT=30
for _a in $(cat /proc/cmdline); do
	case $_a in
	lab.tree_plan=*) PLAN_EVERY=${_a#*=} ;;
	lab.tree_load=*) LOAD_EVERY=${_a#*=} ;;
	lab.tree_limit=*) LIMIT=${_a#*=} ;;
	esac
done
# Under emulation each program start translates its code again when its
# address changes: randomization costs time here and tests nothing.
echo 0 >/proc/sys/kernel/randomize_va_space

# Modules that must not be loaded here, with why: the others hang or take
# the VM down (found by running the whole tree, scripts/distro-tree).
SKIP="
"

# skip_reason FILE NAME: why FILE must not be loaded here, or nothing.
skip_reason() {
	case $1 in
	*/drivers/watchdog/*)
		echo "a watchdog driver: once started (some start at load) it resets a VM nobody feeds"
		return
		;;
	esac
	printf '%s\n' "$SKIP" | awk -v m="$2" '$1 == m { $1 = ""; sub(/^ /, ""); print; exit }'
}

module_of() {
	_n=${1##*/}
	_n=${_n%%.ko*}
	echo "$_n" | tr - _
}

# table: the loaded modules' names, sorted, one a line.
table() {
	awk '{ print $1 }' /proc/modules | sort
}

# only_in A B: the lines of file B that file A does not have (busybox has no
# comm; FILENAME, not NR == FNR, which an empty A would fool).
only_in() {
	awk 'FILENAME == ARGV[1] { seen[$0] = 1; next } !($0 in seen)' "$1" "$2"
}

# added_since STATE: the loaded modules not in STATE (a table), one a line.
added_since() {
	table >/tmp/now.table
	only_in "$1" /tmp/now.table
}

# clean_to STATE: remove, with kmod's rmmod, every module not in STATE (a
# table), in rounds (holders first as they become free).  Returns 1 when
# some stay.
clean_to() {
	for _round in 1 2 3 4 5 6; do
		_extra=$(added_since "$1")
		[ -z "$_extra" ] && return 0
		for _m in $_extra; do
			timeout "$LIMIT" "$KMOD/rmmod" "$_m" >/dev/null 2>&1
		done
	done
	[ -z "$(added_since "$1")" ]
}

FILES=/tmp/tree.files
find "$KDIR/kernel" -name '*.ko*' | LC_ALL=C sort >$FILES
TOTAL=$(wc -l <$FILES)
diag "kernel $LAB_KVER: $TOTAL module files; planning every ${PLAN_EVERY}th, loading every ${LOAD_EVERY}th, ${LIMIT} s per load"
check "the module tree is in the image (more than 500 module files)" [ "$TOTAL" -gt 500 ]

# ----------------------------------------------------------------- planning --

# order_ok LIST: each file of LIST (full paths, in order) comes after every
# dependency modules.dep records for it that LIST holds.  Prints the first
# one out of order.
order_ok() {
	awk -v k="$KDIR/" '
		FILENAME == ARGV[1] { pos[k $0] = FNR; next }
		{
			f = $1; sub(/:$/, "", f); f = k f
			if (!(f in pos)) next
			for (i = 2; i <= NF; i++) if ((k $i) in pos && pos[k $i] > pos[f]) {
				print f " comes before its dependency " k $i; bad = 1; exit
			}
		}
		END { exit bad }' "$1" "$DEP"
}

P_N=0 P_SAME=0 P_ORDER=0 P_TIME_OURS=0 P_TIME_KMOD=0
awk -v n="$PLAN_EVERY" 'NR % n == 1 || n == 1' $FILES >/tmp/plan.files
while read -r F; do
	M=$(module_of "$F")
	P_N=$((P_N + 1))
	uptime_ms _t0
	"$OURS/insmod" -d -n "$F" >/tmp/ours.plan 2>/tmp/ours.err
	_rc_ours=$?
	uptime_ms _t1
	"$KMOD/modprobe" --show-depends "$M" >/tmp/kmod.out 2>/tmp/kmod.err
	_rc_kmod=$?
	uptime_ms _t2
	P_TIME_OURS=$((P_TIME_OURS + _t1 - _t0))
	P_TIME_KMOD=$((P_TIME_KMOD + _t2 - _t1))
	# kmod names a module twice when a soft dependency of it depends on it (vfio and its
	# post: vfio_iommu_type1): sets.
	awk '$1 == "insmod" { print $2 }' /tmp/kmod.out | sort -u >/tmp/kmod.set
	sort -u /tmp/ours.plan >/tmp/ours.set
	if [ "$_rc_ours" = 0 ] && [ "$_rc_kmod" = 0 ] && cmp -s /tmp/ours.set /tmp/kmod.set; then
		P_SAME=$((P_SAME + 1))
		ok "plan $M: the files modprobe --show-depends names ($(wc -l </tmp/ours.set))"
	else
		not_ok "plan $M: the files modprobe --show-depends names"
		diag "\$ insmod -d -n $F (exit $_rc_ours)" "$(cat /tmp/ours.plan /tmp/ours.err)" \
			"\$ modprobe --show-depends $M (exit $_rc_kmod)" "$(cat /tmp/kmod.out /tmp/kmod.err)"
	fi
	if _why=$(order_ok /tmp/ours.plan); then
		P_ORDER=$((P_ORDER + 1))
	else
		not_ok "plan $M: each file after its modules.dep dependencies"
		diag "$_why"
	fi
done </tmp/plan.files
check "planning: $P_SAME of $P_N plans name kmod's files, $P_ORDER of $P_N in a valid order" \
	[ "$P_SAME" = "$P_N" -a "$P_ORDER" = "$P_N" ]
diag "planning time: ours $P_TIME_OURS ms, kmod $P_TIME_KMOD ms over $P_N files"

# ----------------------------------------------------------------- loading --

# kmod_rest STATE: removes with kmod's rmmod what is loaded beyond STATE (a
# table), each once nothing holds it (refcount 0), as one who knows the order
# would: what kmod's modprobe -r leaves.  Prints how many it removed.
kmod_rest() {
	_n=0
	while :; do
		_free=$(awk 'FILENAME == ARGV[1] { s[$1] = 1; next } !($1 in s) && $3 == "0" { print $1 }' "$1" /proc/modules)
		_any=0
		for _m in $_free; do
			timeout "$LIMIT" "$KMOD/rmmod" "$_m" >/dev/null 2>&1 && _n=$((_n + 1)) _any=1
		done
		[ $_any = 0 ] && break
	done
	echo $_n
}

# release_waits FILE WHAT OUTPUT: appends to FILE the waits that rmmod -v's
# OUTPUT says (for references that go a moment after their holder, as
# configfs's after netconsole), one a line: WHAT, the module waited for, the
# milliseconds, "released" or "stayed", and the holders removed before it.
release_waits() {
	printf '%s\n' "$3" | awk -v what="$2" '
		/ waited [0-9]+ ms for the references .* left on [^ ]+ to go/ {
			line = $0
			sub(/.* waited /, "", line)
			ms = line; sub(/ .*/, "", ms)
			after = line; sub(/.* for the references /, "", after); sub(/ left on .*/, "", after)
			gsub(/, /, ",", after)
			d = line; sub(/.* left on /, "", d); sub(/ to go.*/, "", d)
			print what, d, ms, (line ~ /: some stayed$/ ? "stayed" : "released"), after
		}' >>"$1"
}

# waits_summary FILE: the waits FILE has (see release_waits), in totals and
# for each module waited for.
waits_summary() {
	awk '{ n[$4]++; ms[$4] += $3 }
		END {
			printf "release waits: %d released in %d ms, %d ran out in %d ms\n", \
				n["released"], ms["released"], n["stayed"], ms["stayed"]
		}' "$1"
	awk '{
			k = $2 " after " $5 ", " $4; c[k]++; t[k] += $3; if ($3 > mx[k]) mx[k] = $3
		}
		END { for (k in c) printf "  %s: %d, %d ms in all, the longest %d ms\n", k, c[k], t[k], mx[k] }' "$1" |
		sort
}

table >/tmp/start.table
L_TIMED=0 L_TIME_OURS=0 L_TIME_KMOD=0
L_REST_N=0 L_REST_MODS=0 L_REST_MS=0
L_STAYS=0 L_N=0 L_SKIP=0 L_KMOD=0 L_KMOD_FAIL=0 L_OURS=0 L_SAME=0 L_CLEAN=0
: >/tmp/loadable
: >/tmp/waits
: >/tmp/times
: >/tmp/skipped
: >/tmp/left
awk -v n="$LOAD_EVERY" 'NR % n == 1 || n == 1' $FILES >/tmp/load.files
while read -r F; do
	M=$(module_of "$F")
	L_N=$((L_N + 1))
	_why=$(skip_reason "$F" "$M")
	if [ -n "$_why" ]; then
		L_SKIP=$((L_SKIP + 1))
		echo "$M: $_why" >>/tmp/skipped
		continue
	fi
	if grep -qx "$M" /tmp/start.table; then
		L_SKIP=$((L_SKIP + 1))
		echo "$M: loaded already (a dependency of an earlier module left behind)" >>/tmp/skipped
		continue
	fi
	table >/tmp/before
	# On the console (the kernel log): the module a hung VM was loading.
	echo "distro-tree: loading $M" >&2
	uptime_ms _t0
	_out=$(timeout "$LIMIT" "$KMOD/modprobe" "$M" 2>&1)
	_rc=$?
	uptime_ms _t1
	added_since /tmp/before >/tmp/kmod.loaded
	if [ $_rc != 0 ] || ! is_loaded "$M"; then
		L_KMOD_FAIL=$((L_KMOD_FAIL + 1))
		case $_rc in
		124 | 143) echo "$M: kmod's modprobe did not finish in $LIMIT s" >>/tmp/skipped ;;
		*) echo "$M: kmod's modprobe fails (exit $_rc): $(echo "$_out" | tail -n 1)" >>/tmp/skipped ;;
		esac
		clean_to /tmp/before || diag "setup: could not remove what modprobe $M loaded: $(added_since /tmp/before | tr '\n' ' ')"
		continue
	fi
	L_KMOD=$((L_KMOD + 1))
	uptime_ms _t2
	timeout "$LIMIT" "$KMOD/modprobe" -r "$M" >/dev/null 2>&1
	uptime_ms _t3
	# What modprobe -r leaves that rmmod -r removes (dependencies it finds still
	# referenced when it looks), removed with kmod's rmmod: timed apart.
	_rest=$(kmod_rest /tmp/before)
	uptime_ms _t4
	_ms_kmod=$((_t1 - _t0 + _t3 - _t2))
	_ms_kmod_rm=$((_t3 - _t2))
	_ms_rest=$((_t4 - _t3))
	if ! clean_to /tmp/before; then
		# Held by the kernel once loaded (a crypto algorithm in use, ...): kmod cannot
		# take it out either, and ours would find it loaded.
		L_STAYS=$((L_STAYS + 1))
		_held=$(for _m in $(added_since /tmp/before); do
			echo "$_m (refcount $(cat /sys/module/$_m/refcnt 2>/dev/null))"
		done | tr '\n' ' ')
		echo "$M: once loaded by modprobe, neither modprobe -r nor kmod's rmmod removes it: $_held" >>/tmp/skipped
		table >/tmp/start.table
		continue
	fi

	uptime_ms _t0
	_out=$(timeout "$LIMIT" "$OURS/insmod" -d "$F" 2>&1)
	_rc=$?
	uptime_ms _t1
	added_since /tmp/before >/tmp/ours.loaded
	if [ $_rc = 0 ] && is_loaded "$M" && cmp -s /tmp/ours.loaded /tmp/kmod.loaded; then
		L_OURS=$((L_OURS + 1))
		L_SAME=$((L_SAME + 1))
		ok "load $M: insmod -d loads what modprobe loads ($(wc -l </tmp/ours.loaded))"
	elif [ $_rc = 0 ] && is_loaded "$M"; then
		L_OURS=$((L_OURS + 1))
		not_ok "load $M: insmod -d loads what modprobe loads"
		diag "ours: $(tr '\n' ' ' </tmp/ours.loaded)" "kmod: $(tr '\n' ' ' </tmp/kmod.loaded)"
	else
		not_ok "load $M: insmod -d loads it (kmod's modprobe does)"
		diag "\$ insmod -d $F (exit $_rc)" "$_out"
	fi
	is_loaded "$M" || { clean_to /tmp/before; continue; }
	uptime_ms _t2
	_out=$(timeout "$LIMIT" "$OURS/rmmod" -r -v "$M" 2>&1)
	_rc=$?
	uptime_ms _t3
	release_waits /tmp/waits "$M" "$_out"
	table >/tmp/after
	if [ $_rc = 0 ] && cmp -s /tmp/before /tmp/after; then
		L_CLEAN=$((L_CLEAN + 1))
		# Timed where both did the whole round trip.
		L_TIMED=$((L_TIMED + 1))
		L_TIME_KMOD=$((L_TIME_KMOD + _ms_kmod))
		if [ "$_rest" -gt 0 ]; then
			L_REST_N=$((L_REST_N + 1))
			L_REST_MODS=$((L_REST_MODS + _rest))
			L_REST_MS=$((L_REST_MS + _ms_rest))
		fi
		L_TIME_OURS=$((L_TIME_OURS + _t1 - _t0 + _t3 - _t2))
		echo "$M $((_t1 - _t0)) $((_t3 - _t2)) $((_ms_kmod - _ms_kmod_rm)) $_ms_kmod_rm $_rest" >>/tmp/times
		echo "$M" >>/tmp/loadable
		ok "remove $M: rmmod -r leaves the table as it was"
	else
		_extra=$(only_in /tmp/before /tmp/after | tr '\n' ' ')
		_gone=$(only_in /tmp/after /tmp/before | tr '\n' ' ')
		echo "$M: left loaded: ${_extra:-nothing}; removed besides: ${_gone:-nothing} (rmmod -r exit $_rc: $(echo "$_out" | tail -n 1))" >>/tmp/left
		# Soft dependencies (insmod -d loads them, rmmod -r removes them as
		# modprobe -r does) and dependencies whose last reference the kernel
		# drops a moment after their holder (configfs, ip_vs's) included:
		# anything left is a failure.
		not_ok "remove $M: rmmod -r leaves the table as it was"
		diag "\$ rmmod -r -v $M (exit $_rc)" "$_out" "left loaded: ${_extra:-nothing}" "removed, though loaded before: ${_gone:-nothing}"
		clean_to /tmp/before || diag "could not clean up after $M: $(added_since /tmp/before | tr '\n' ' ')"
	fi
done </tmp/load.files
check "loading: of $L_N files, $L_SKIP skipped, kmod loads $L_KMOD ($L_KMOD_FAIL not, $L_STAYS it cannot remove again), ours $L_OURS of those ($L_SAME the same modules), $L_CLEAN removed cleanly by rmmod -r" \
	[ "$L_OURS" = $((L_KMOD - L_STAYS)) -a "$L_SAME" = "$L_OURS" -a "$L_CLEAN" = "$L_OURS" ]
diag "skipped or not loaded by kmod:" "$(cat /tmp/skipped)"
diag "loading time: ours $L_TIME_OURS ms (insmod -d, rmmod -r), kmod $L_TIME_KMOD ms (modprobe, modprobe -r) over $L_TIMED modules"
diag "loading time, what modprobe -r left: $L_REST_MODS modules after $L_REST_N of the $L_TIMED (rmmod -r removes them), $L_REST_MS ms more with kmod's rmmod"
diag "loading, $(waits_summary /tmp/waits)"
diag "$(awk '{ i += $2; r += $3; l += $4; u += $5 }
	END { printf "loading time by step: insmod -d %d ms, modprobe %d ms; rmmod -r %d ms, modprobe -r %d ms\n", i, l, r, u }' /tmp/times)"
diag "loading, the most time over kmod's:" "$(awk '{ print $2 + $3 - $4 - $5, $0 }' /tmp/times | sort -rn | head -n 8 |
	awk '{ printf "%s: ours %d ms (insmod -d %d, rmmod -r %d), kmod %d ms (modprobe %d, modprobe -r %d, which left %d)\n", $2, $3 + $4, $3, $4, $5 + $6, $5, $6, $7 }')"
[ -s /tmp/left ] && diag "left behind by rmmod -r:" "$(cat /tmp/left)"

# ------------------------------------------------------------- many at once --

# many_parts NAMED START: with the modules of file NAMED loaded (and those of
# the table START before them), splits /proc/modules for one rmmod -r of
# them, one a line:
#   rest NAME              named (loaded, not of START): for the rmmod -r;
#   left NAME: WHY         pinned by the kernel: of the set (the named modules
#                          and those they use, directly or through others;
#                          none of START) with more references than its
#                          holders account for, or held by a module outside
#                          the set; or used by such a one (it cannot go
#                          before it): left out;
#   other NAME: WHY        loaded since START, but neither named nor used by a
#                          named one (the kernel loaded it on its own).
many_parts() {
	awk '
		FILENAME == ARGV[1] { named[$1] = 1; next }
		FILENAME == ARGV[2] { start[$1] = 1; next }
		{
			m = $1; loaded[m] = 1; ref[m] = $3; order[++n] = m
			h = $4; if (h == "-") h = ""; sub(/,$/, "", h)
			nh[m] = split(h, hs, ",")
			for (i = 1; i <= nh[m]; i++) { holder[m, i] = hs[i]; uses[hs[i]] = uses[hs[i]] " " m }
		}
		END {
			q = 0
			for (j = 1; j <= n; j++) if ((order[j] in named) && !(order[j] in start)) { set[order[j]] = 1; queue[++q] = order[j] }
			for (j = 1; j <= q; j++) {
				k = split(uses[queue[j]], us, " ")
				for (i = 1; i <= k; i++) if (!(us[i] in set) && !(us[i] in start)) { set[us[i]] = 1; queue[++q] = us[i] }
			}
			q = 0
			for (j = 1; j <= n; j++) {
				m = order[j]
				if (!(m in set)) continue
				why = ""
				if (ref[m] ~ /^[0-9]+$/ && ref[m] + 0 > nh[m])
					why = "refcount " ref[m] ", " nh[m] " holder" (nh[m] == 1 ? "" : "s") " among the modules"
				out = ""
				for (i = 1; i <= nh[m]; i++) if (!(holder[m, i] in set)) out = out " " holder[m, i]
				if (out != "") why = why (why == "" ? "" : "; ") "held by" out ", outside the set"
				if (why != "") { keep[m] = why; pinned[++q] = m }
			}
			for (j = 1; j <= q; j++) {
				k = split(uses[pinned[j]], us, " ")
				for (i = 1; i <= k; i++) if ((us[i] in set) && !(us[i] in keep)) { keep[us[i]] = "used by " pinned[j]; pinned[++q] = us[i] }
			}
			for (j = 1; j <= n; j++) {
				m = order[j]
				if (m in keep) print "left " m ": " keep[m]
				else if ((m in named) && !(m in start)) print "rest " m
				else if (!(m in set) && !(m in start)) print "other " m ": loaded, neither named nor used by a named module (a soft dependency modprobe loaded, or one the kernel asked for)"
			}
		}' "$1" "$2" /proc/modules
}

clean_to /tmp/start.table
MANY=$(cat /tmp/loadable)
if [ -z "$MANY" ]; then
	not_ok "many at once: no module of the sample loaded and removed cleanly"
else
	for M in $MANY; do
		timeout "$LIMIT" "$KMOD/modprobe" "$M" >/dev/null 2>&1 || diag "setup: modprobe $M fails now"
	done
	diag "many at once: $(echo $MANY | wc -w) modules named, $(added_since /tmp/start.table | wc -l) loaded"
	# Used by lists in kmod's directory order: compare them as sets.
	norm() {
		awk 'NR > 1 && NF == 4 {
			n = split($4, h, ",")
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (h[j] < h[i]) { t = h[i]; h[i] = h[j]; h[j] = t }
			s = ""; for (i = 1; i <= n; i++) s = s h[i] ","
			$4 = substr(s, 1, length(s) - 1)
		} { print }'
	}
	run ours lsmod
	run kmod lsmod
	if [ "$RC_ours" = 0 ] && [ "$OUT_ours" = "$OUT_kmod" ]; then
		ok "many at once: our lsmod prints kmod's, byte for byte"
	elif [ "$RC_ours" = 0 ] && [ "$(printf '%s\n' "$OUT_ours" | norm)" = "$(printf '%s\n' "$OUT_kmod" | norm)" ]; then
		ok "many at once: our lsmod prints kmod's, identical up to the order within Used by"
	else
		not_ok "many at once: our lsmod prints kmod's"
		show_both
	fi
	# What the kernel pins once they are all loaded is left out of the one
	# rmmod -r (kmod's rmmod cannot remove it either), with what it uses.
	printf '%s\n' $MANY >/tmp/many.named
	many_parts /tmp/many.named /tmp/start.table >/tmp/many.parts
	awk '$1 == "rest" { print $2 }' /tmp/many.parts >/tmp/many.rest
	awk '$1 == "left" { sub(/:$/, "", $2); print $2 }' /tmp/many.parts >/tmp/many.left
	_n_left=$(wc -l </tmp/many.left)
	diag "many at once: $(wc -l </tmp/many.rest) modules for one rmmod -r, $_n_left left out of it (pinned by the kernel, or used by one that is), $(grep -c '^other ' /tmp/many.parts) loaded without being named or used by a named one"
	if [ -s /tmp/many.left ] || grep -q '^other ' /tmp/many.parts; then
		diag "many at once, left out:" "$(awk '$1 != "rest" { $1 = ""; sub(/^ /, ""); print }' /tmp/many.parts)"
		for M in $(awk '$1 == "left" && $3 != "used" { sub(/:$/, "", $2); print $2 }' /tmp/many.parts); do
			diag "$("$OURS/lsmod" --refs "$M" 2>&1)"
		done
	fi
	# Honestly pinned: kmod's rmmod cannot remove any of them.
	_removable=
	for M in $(cat /tmp/many.left); do
		if timeout "$LIMIT" "$KMOD/rmmod" "$M" >/dev/null 2>&1; then
			_removable="$_removable $M"
		fi
	done
	check "many at once: kmod's rmmod removes none of the $_n_left left out" [ -z "$_removable" ] ||
		diag "kmod's rmmod removed:$_removable"
	# What may stay: the start table, the ones left out and the ones loaded
	# unnamed.  Those of them the rest uses, directly or as a soft dependency,
	# go with it once it leaves them unused (as with modprobe -r).
	awk '$1 == "left" || $1 == "other" { sub(/:$/, "", $2); print $2 }' /tmp/many.parts >/tmp/many.kept
	cat /tmp/start.table /tmp/many.kept >/tmp/may.stay
	table >/tmp/before
	: >/tmp/waits.many
	_out=$(timeout $((LIMIT * 4 + $(wc -l </tmp/many.rest))) "$OURS/rmmod" -r -v $(cat /tmp/many.rest) 2>&1)
	_rc=$?
	release_waits /tmp/waits.many many "$_out"
	table >/tmp/after
	_stayed=$(only_in /tmp/may.stay /tmp/after | tr '\n' ' ')
	_gone=$(only_in /tmp/after /tmp/start.table | tr '\n' ' ')
	if [ $_rc = 0 ] && [ -z "$_stayed" ] && [ -z "$_gone" ]; then
		ok "many at once: one rmmod -r of the rest leaves the start table and none of the rest"
	else
		not_ok "many at once: one rmmod -r of the rest leaves the start table and none of the rest"
		diag "\$ rmmod -r -v (the $(wc -l </tmp/many.rest) modules) (exit $_rc)" "$(echo "$_out" | grep -v ': INFO: removed ' | tail -n 20)" \
			"left loaded besides: ${_stayed:-nothing}" "removed, though loaded at the start: ${_gone:-nothing}"
	fi
	_went=$(only_in /tmp/after /tmp/before | awk 'FILENAME == ARGV[1] { k[$0] = 1; next } $0 in k' /tmp/many.kept - | tr '\n' ' ')
	_left=$(only_in /tmp/start.table /tmp/after | tr '\n' ' ')
	diag "many at once: of those left out or loaded unnamed, went with the rest once unused: ${_went:-none}; still loaded: ${_left:-none}"
	diag "many at once, $(waits_summary /tmp/waits.many)"
	clean_to /tmp/start.table || diag "could not clean up: $(added_since /tmp/start.table | tr '\n' ' ')"
fi

finish
