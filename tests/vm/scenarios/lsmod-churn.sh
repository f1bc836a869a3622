# lab: timeout 420
# lsmod while the kernel changes underneath: a background loop loads and
# unloads modules with kmod's tools (lab_slow with short sleeps in init and
# exit, so that it spends time Loading and Unloading; lab_provider with its
# holder lab_consumer; the distribution's dummy), while lsmod runs again
# and again.  Every module lsmod saw in /proc/modules may be gone from
# /sys/module by the time it looks there.
#
# Ours must never fail, never print on stderr, and never show a refcount
# below -1 (the kernel shows -1 for a module being unloaded).  kmod's lsmod
# reads sysfs once per module after listing them and races with unloading
# modules: its failures are recorded, not judged.
. /lab/scenarios/lib.sh

# How much each tool runs: a number of runs, and then on until the churn has
# turned MIN_ROUNDS times and lsmod has seen lab_slow (what the checks need,
# however fast each side runs on a loaded host), within a time bound that
# only a churn that does not turn at all reaches.
OURS_RUNS=150 KMOD_RUNS=50
MIN_ROUNDS=3 LIMIT_MS=100000
CHURN_INIT_MS=40 CHURN_EXIT_MS=40

# churn_start SECONDS: the background loop, until /tmp/churn.stop exists or
# SECONDS have passed (whichever comes first); CHURN is its pid.  Each round
# leaves nothing loaded; /tmp/churn.rounds counts the rounds.
churn_start() {
	rm -f /tmp/churn.stop
	echo 0 >/tmp/churn.rounds
	(
		uptime_ms _c0
		_r=0
		while [ ! -e /tmp/churn.stop ]; do
			uptime_ms _c1
			[ $((_c1 - _c0)) -ge $(($1 * 1000)) ] && break
			"$KMOD/insmod" "$MODS/lab_slow.ko" init_ms=$CHURN_INIT_MS exit_ms=$CHURN_EXIT_MS
			"$KMOD/insmod" "$MODS/lab_provider.ko"
			"$KMOD/insmod" "$MODS/lab_consumer.ko"
			"$KMOD/rmmod" lab_slow
			"$KMOD/modprobe" dummy
			"$KMOD/rmmod" lab_consumer
			"$KMOD/rmmod" lab_provider
			"$KMOD/modprobe" -r dummy
			_r=$((_r + 1))
			echo $_r >/tmp/churn.rounds
		done
	) >/dev/null 2>&1 &
	CHURN=$!
}

churn_stop() {
	: >/tmp/churn.stop
	wait $CHURN
	kunload lab_slow lab_consumer lab_provider dummy
}

# lsmod_runs WHO RUNS: WHO's lsmod again and again, at least RUNS times and
# until the churn has turned MIN_ROUNDS times and one output showed
# lab_slow, within LIMIT_MS; every output goes to /tmp/ls.WHO.out, every
# stderr to /tmp/ls.WHO.err.  Sets RUNS, FAILS (non-zero exits), NOISY
# (runs that printed on stderr), RCS (the failing exit codes), ELAPSED (ms).
lsmod_runs() {
	_who=$1 _min=$2
	case $_who in ours) _dir=$OURS ;; kmod) _dir=$KMOD ;; esac
	: >/tmp/ls.$_who.out
	: >/tmp/ls.$_who.err
	RUNS=0 FAILS=0 NOISY=0 RCS= _seen=0
	uptime_ms _l0
	while :; do
		if [ $RUNS -ge "$_min" ] && [ $_seen = 1 ] &&
			[ "$(cat /tmp/churn.rounds)" -ge $MIN_ROUNDS ]; then
			break
		fi
		uptime_ms _l1
		[ $((_l1 - _l0)) -ge $LIMIT_MS ] && break
		"$_dir/lsmod" >/tmp/ls.one 2>/tmp/ls.err
		_rc=$?
		RUNS=$((RUNS + 1))
		cat /tmp/ls.one >>/tmp/ls.$_who.out
		[ $_seen = 1 ] || ! grep -q '^lab_slow ' /tmp/ls.one || _seen=1
		if [ $_rc != 0 ]; then
			FAILS=$((FAILS + 1))
			RCS="$RCS $_rc"
		fi
		if [ -s /tmp/ls.err ]; then
			NOISY=$((NOISY + 1))
			cat /tmp/ls.err >>/tmp/ls.$_who.err
		fi
	done
	uptime_ms _l1
	ELAPSED=$((_l1 - _l0))
}

# analyse WHO: over all of WHO's outputs, sets LINES (module lines), BELOW
# (refcount below -1), BAD (lines that are not "name size refcount
# [holders]"), GOING (lab_slow shown with -1) and SLOW (lab_slow shown).
analyse() {
	eval "$(awk '
		$1 == "Module" && $2 == "Size" { next }
		{
			lines++
			if (NF < 3 || NF > 4 || $2 !~ /^[0-9]+$/ || $3 !~ /^-?[0-9]+$/) { bad++; next }
			if ($3 + 0 < -1) below++
			if ($1 == "lab_slow") { slow++; if ($3 == "-1") going++ }
		}
		END {
			printf "LINES=%d BELOW=%d BAD=%d SLOW=%d GOING=%d\n", lines, below, bad, slow, going
		}' /tmp/ls.$1.out)"
}

# malformed WHO: the module lines of WHO's outputs that analyse calls BAD.
malformed() {
	awk '!($1 == "Module" && $2 == "Size") && (NF < 3 || NF > 4 || $2 !~ /^[0-9]+$/ || $3 !~ /^-?[0-9]+$/)' /tmp/ls.$1.out
}

# --- ours ----------------------------------------------------------------------

# How long one lsmod takes here with nothing else going on, for the record.
for who in ours kmod; do
	_d=$OURS
	[ $who = kmod ] && _d=$KMOD
	uptime_ms t0
	for i in 1 2 3 4 5 6 7 8 9 10; do "$_d/lsmod" >/dev/null 2>&1; done
	uptime_ms t1
	diag "no churn: 10 runs of $who lsmod took $((t1 - t0)) ms"
done

churn_start $((LIMIT_MS / 1000))
lsmod_runs ours $OURS_RUNS
rounds=$(cat /tmp/churn.rounds)
churn_stop
analyse ours
diag "ours: $RUNS runs in $ELAPSED ms beside $rounds rounds of the churn;" \
	"$LINES module lines, lab_slow in $SLOW of them (Unloading, refcount -1, in $GOING)"
check "churn setup: the background loop ran (${rounds} rounds) and lsmod saw lab_slow come and go" \
	[ "$rounds" -ge $MIN_ROUNDS -a "$SLOW" -ge 1 ]
check "ours: $OURS_RUNS runs of lsmod or more beside the churn ($RUNS in $ELAPSED ms)" [ "$RUNS" -ge $OURS_RUNS ]
if [ "$FAILS" = 0 ]; then
	ok "ours: no run of $RUNS exited non-zero"
else
	not_ok "ours: no run of $RUNS exited non-zero ($FAILS did, with$RCS)"
fi
if [ "$NOISY" = 0 ]; then
	ok "ours: no run printed anything on stderr"
else
	not_ok "ours: no run printed anything on stderr ($NOISY did)"
	diag "$(sort /tmp/ls.ours.err | uniq -c | head -n 10)"
fi
check "ours: no refcount below -1 in $LINES module lines ($BELOW below)" [ "$BELOW" = 0 ]
if [ "$BAD" = 0 ]; then
	ok "ours: every module line is 'name size refcount [holders]'"
else
	not_ok "ours: every module line is 'name size refcount [holders]' ($BAD are not)"
	diag "$(malformed ours | head -n 5)"
fi

# --- kmod, for the record -------------------------------------------------------

churn_start $((LIMIT_MS / 1000))
lsmod_runs kmod $KMOD_RUNS
rounds=$(cat /tmp/churn.rounds)
churn_stop
analyse kmod
diag "kmod 30: $RUNS runs of lsmod in $ELAPSED ms beside $rounds rounds of the churn:" \
	"$FAILS exited non-zero${RCS:+ (with$RCS)}, $NOISY printed on stderr;" \
	"$LINES module lines, $BELOW with a refcount below -1, $BAD malformed," \
	"lab_slow in $SLOW (refcount -1 in $GOING)"
[ -s /tmp/ls.kmod.err ] && diag "kmod's stderr, counted:" "$(sort /tmp/ls.kmod.err | uniq -c | head -n 10)"
[ "$BAD" != 0 ] && diag "kmod's malformed lines, counted:" "$(malformed kmod | sort | uniq -c | head -n 10)"

finish
