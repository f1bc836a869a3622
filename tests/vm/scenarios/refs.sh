# lsmod --refs and rmmod's holders: who holds a module, on a real kernel.
# Each case sets up references whose holders the scenario knows (pids it
# started, mounts and loop devices it made, modules it loaded) and compares
# `lsmod --refs` with exactly that, the refcount from /proc/modules:
#   - one and two processes holding /dev/lab_dev, one open file shared by
#     a process and its child, and one in flight in a unix socket (in no
#     process's fd table: "1 reference not attributed");
#   - a process holding brd's /dev/ram0 (a block device's disk owner);
#   - a PF_KEY socket: two references on af_key (proto_ops and proto), and
#     af_key as xfrm_algo's holder;
#   - vfat images mounted on loop devices: the mounts hold vfat, the NLS
#     tables (codepage=437 and the iocharset mountinfo shows) and loop (the
#     block device), fat is held by vfat, bound loop devices hold loop;
#   - lab_user holding lab_dev and lab_provider besides an open file;
# then rmmod of a module in use (kmod's line first, byte for byte, then a
# line for each holder that line does not name) and rmmod --wait naming
# what it waits for.
#
# With REFS_FILES=proc (refs-nobpf.sh hides the kernel's BTF, so the BPF
# iterator cannot run) open files are found through /proc: the checks then
# ask for honesty instead of the exact list (see check_refs).
. /lab/scenarios/lib.sh

HOLD=/lab/bin/lab-hold
REFS_FILES=${REFS_FILES:-bpf}

# refcount NAME: the module's refcount in /proc/modules.
refcount() {
	awk -v m="$1" '$1 == m { print $3 }' /proc/modules
}

# header NAME: "NAME: refcount N", the first line of NAME's block.
header() {
	echo "$1: refcount $(refcount "$1")"
}

# fd_is PID FD TARGET: /proc/PID/fd/FD of a lab-hold process points at TARGET
# (a pattern).
fd_is() {
	[ "$(cat /proc/$1/comm 2>/dev/null)" = lab-hold ] || return 1
	case $(readlink /proc/$1/fd/$2 2>/dev/null) in
	$3) return 0 ;;
	esac
	return 1
}

# hold VAR TARGET ARGS...: start lab-hold ARGS in the background, its pid in
# VAR, and return once its fd 3 is open on TARGET (a pattern).
hold() {
	_var=$1 _target=$2
	shift 2
	"$HOLD" "$@" </dev/null >/dev/null 2>&1 &
	eval "$_var=\$!"
	wait_until 10 fd_is $! 3 "$_target" || diag "setup: lab-hold $* (pid $!) never had fd 3 on $_target"
}

# release PID...: kill holders and wait for them.
release() {
	for _p in "$@"; do
		kill "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	return 0
}

# refs MODULE...: our lsmod --refs; stdout in REFS_OUT, stderr in REFS_ERR,
# exit status in REFS_RC.
refs() {
	"$OURS/lsmod" --refs "$@" >/tmp/refs.out 2>/tmp/refs.err
	REFS_RC=$?
	REFS_OUT=$(cat /tmp/refs.out) REFS_ERR=$(cat /tmp/refs.err)
	REFS_CMD="lsmod --refs $*"
}

# honest EXPECTED ACTUAL (files): prints what is wrong with ACTUAL, a
# `lsmod --refs` output, given the EXPECTED exact one: the same module
# headers in the same order; each reference line one of the expected
# lines, used once, optionally marked " (approximate)" (an open file must
# be, when found through /proc); every expected line that is not an open
# file present (modules, mounts and loop devices are exact by construction);
# and per module, attributed + "N references not attributed" = refcount.
honest() {
	awk -v files="$REFS_FILES" '
	function problem(s) { print s; bad = 1 }
	function flush() {
		if (cur == "") return
		if (attributed + unattr != refc)
			problem(cur ": " attributed " attributed + " unattr " not attributed, but refcount " refc)
		for (k in want) {
			split(k, p, SUBSEP)
			if (p[1] == cur && p[2] !~ /^pid / && used[k] < want[k])
				problem(cur ": missing: " p[2])
		}
		cur = ""
	}
	FNR == NR {
		if ($0 ~ /^[^ ]/) { m = $1; sub(/:$/, "", m); order[++nexp] = $0 }
		else if ($0 !~ / not attributed$/) want[m, substr($0, 3)]++
		next
	}
	/^[^ ]/ {
		flush()
		nact++
		if ($0 != order[nact]) problem("header " nact ": " $0 " instead of " order[nact])
		cur = $1; sub(/:$/, "", cur); refc = $NF + 0; attributed = 0; unattr = 0
		next
	}
	{
		line = substr($0, 3)
		if (substr($0, 1, 2) != "  " || cur == "") { problem("not a reference line: " $0); next }
		if (line ~ /^[0-9]+ references? not attributed$/) {
			unattr = line + 0
			if ((unattr == 1) != (line ~ / reference not/) || unattr == 0)
				problem(cur ": says " line)
			next
		}
		if (line ~ /changed while being read/) {
			# The scenario changes nothing while lsmod runs.
			problem(cur ": says the references changed while being read, but nothing changed: " $0)
			next
		}
		approx = sub(/ \(approximate\)$/, "", line)
		n = 1
		if (match(line, / \([0-9]+ references\)$/)) n = substr(line, RSTART + 2) + 0
		attributed += n
		if (want[cur, line] <= used[cur, line]) { problem(cur ": not a reference it has: " $0); next }
		used[cur, line]++
		if (line ~ /^pid / && files == "proc" && !approx)
			problem(cur ": an open file found through /proc not marked approximate: " $0)
		if (files == "bpf" && approx)
			problem(cur ": marked approximate although BPF ran: " $0)
	}
	END {
		flush()
		if (nact != nexp) problem(nact " modules listed, " nexp " asked for")
		exit bad
	}' "$1" "$2"
}

# check_refs DESC EXPECTED MODULE...: lsmod --refs MODULE... against
# EXPECTED, the exact answer.  With BPF: stdout is EXPECTED, stderr empty,
# exit 0.  Through /proc: stdout is honest about EXPECTED (see honest) and,
# once open files had to be looked for, stderr is one note starting
# "lsmod: " that says they were found through /proc, approximately, and why
# BPF could not run.
check_refs() {
	_desc=$1 _exp=$2
	shift 2
	refs "$@"
	printf '%s\n' "$_exp" >/tmp/refs.exp
	_why=
	[ "$REFS_RC" = 0 ] || _why="exit $REFS_RC"
	if [ "$REFS_FILES" = bpf ]; then
		[ "$REFS_OUT" = "$_exp" ] || _why="${_why:+$_why; }not the expected output"
		[ -z "$REFS_ERR" ] || _why="${_why:+$_why; }printed on stderr"
	else
		_problems=$(honest /tmp/refs.exp /tmp/refs.out)
		[ -z "$_problems" ] || _why="${_why:+$_why; }$_problems"
		# Open files are scanned only when other sources leave references
		# unexplained: the note is due when that happened.
		if printf '%s\n' "$REFS_OUT" | grep -qE '^  pid |\(approximate\)$| not attributed$'; then
			proc_note_ok || _why="${_why:+$_why; }stderr is not one note on /proc (approximate) and why not BPF"
		else
			[ -z "$REFS_ERR" ] || proc_note_ok || _why="${_why:+$_why; }stderr is neither empty nor the note on /proc"
		fi
	fi
	if [ -z "$_why" ]; then
		ok "$_desc"
		if [ "${LAB_VERBOSE:-0}" = 1 ] || [ "$REFS_FILES" = proc ]; then
			diag "\$ $REFS_CMD" "$REFS_OUT" ${REFS_ERR:+"stderr: $REFS_ERR"}
		fi
	else
		not_ok "$_desc"
		diag "\$ $REFS_CMD (exit $REFS_RC)" "expected (exact):" "$_exp" "ours:" "$REFS_OUT" \
			"stderr:" "$REFS_ERR" "wrong: $_why"
	fi
}

# proc_note_ok: REFS_ERR is the one /proc note: it names /proc and why BPF
# could not run (the BTF is missing), and says "approximate" when a line of
# REFS_OUT is.
proc_note_ok() {
	[ "$(printf '%s\n' "$REFS_ERR" | wc -l)" = 1 ] || return 1
	case $REFS_ERR in lsmod:\ *) ;; *) return 1 ;; esac
	printf '%s\n' "$REFS_ERR" | grep -q /proc &&
		printf '%s\n' "$REFS_ERR" | grep -qi btf || return 1
	printf '%s\n' "$REFS_OUT" | grep -q '(approximate)$' || return 0
	printf '%s\n' "$REFS_ERR" | grep -q approximate
}

# file_line PID FD PATH: how one open file is named.
file_line() {
	echo "  pid $1 (lab-hold) fd $2 $3"
}

# mount_source MOUNTPOINT: the mount's source in /proc/self/mountinfo.
mount_source() {
	awk -v mp="$1" '$5 == mp { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 2); exit } }' /proc/self/mountinfo
}

# mount_option MOUNTPOINT NAME: NAME=VALUE's value among the mount's
# superblock options (the last field of mountinfo).
mount_option() {
	awk -v mp="$1" '$5 == mp { print $NF; exit }' /proc/self/mountinfo | tr , '\n' | sed -n "s/^$2=//p"
}

# The /proc fallback reads modules.alias (fs-vfat, net-pf-15, block-major-N-*).
check "setup: modules.alias has the aliases of vfat, af_key and brd" eval '
	grep -qx "alias fs-vfat vfat" /lib/modules/$LAB_KVER/modules.alias &&
	grep -qx "alias net-pf-15 af_key" /lib/modules/$LAB_KVER/modules.alias &&
	grep -qx "alias block-major-1-\* brd" /lib/modules/$LAB_KVER/modules.alias'
diag "files: $REFS_FILES; /sys/kernel/btf/vmlinux $([ -e /sys/kernel/btf/vmlinux ] && echo present || echo missing)"
if [ "$REFS_FILES" = proc ]; then
	mount -t tmpfs none /sys/kernel/btf
	check "setup: with a tmpfs over /sys/kernel/btf, /sys/kernel/btf/vmlinux is missing" \
		eval '[ ! -e /sys/kernel/btf/vmlinux ]'
else
	check "setup: /sys/kernel/btf/vmlinux is there (the BPF iterator can run)" [ -e /sys/kernel/btf/vmlinux ]
fi

# --- 1, 2: processes holding a misc device --------------------------------------------

kload lab_dev
check_refs "lab_dev without users: just the header" "lab_dev: refcount 0" lab_dev

hold P1 /dev/lab_dev file /dev/lab_dev
check_refs "one process holding /dev/lab_dev: its pid, fd and path" \
	"$(header lab_dev)
$(file_line $P1 3 /dev/lab_dev)" lab_dev

hold P2 /dev/lab_dev file /dev/lab_dev
check_refs "two processes holding /dev/lab_dev: both named, nothing left unattributed" \
	"$(header lab_dev)
$(file_line $P1 3 /dev/lab_dev)
$(file_line $P2 3 /dev/lab_dev)" lab_dev

# JSON: the same two, as objects.
"$OURS/lsmod" --refs --json lab_dev >/tmp/refs.json 2>/dev/null
_json=$(tr -d ' \n' </tmp/refs.json)
if [ "$REFS_FILES" = bpf ]; then
	_want='"files":"bpf"'
else
	_want='"files":"proc"'
fi
_users=0
for _p in $P1 $P2; do
	case $_json in *"\"pid\":$_p,"*) _users=$((_users + 1)) ;; esac
done
check "--json: $_want, refcount 2, both pids among the users" eval '
	case $_json in *"$_want"*) ;; *) false ;; esac &&
	case $_json in *"\"name\":\"lab_dev\",\"refcount\":2,"*) ;; *) false ;; esac &&
	{ [ "$REFS_FILES" = proc ] || [ $_users = 2 ]; } &&
	case $_json in *"\"changed_while_read\":false"*) ;; *) false ;; esac' ||
	diag "$(cat /tmp/refs.json)"
if [ "$REFS_FILES" = proc ]; then
	check "--json through /proc: why_not_bpf says why" eval '! case $_json in *"\"why_not_bpf\":\"\""*) true ;; *) false ;; esac &&
		case $_json in *"\"why_not_bpf\":\""*) true ;; *) false ;; esac'
fi
release $P1 $P2

# One open file, two processes: lab-hold's child shares its parent's fd 3.
rm -f /tmp/shared.pid
"$HOLD" shared /dev/lab_dev </dev/null >/tmp/shared.pid 2>/dev/null &
P1=$!
wait_until 10 eval '[ -s /tmp/shared.pid ]' || diag "setup: lab-hold shared did not say its child's pid"
C1=$(cat /tmp/shared.pid)
wait_until 10 fd_is "$C1" 3 /dev/lab_dev || diag "setup: the child $C1 has no fd 3 on /dev/lab_dev"
check_refs "one open file shared by a parent and its child: one reference, both named" \
	"$(header lab_dev)
$(file_line $P1 3 /dev/lab_dev) (shared with pid $C1 (lab-hold) fd 3)" lab_dev

# A reference no fd table shows: the file lab-hold sent over a unix socket
# pair and closed is open in flight until the socket goes.
in_flight() {
	[ "$(cat /proc/$1/comm 2>/dev/null)" = lab-hold ] && [ -e /proc/$1/fd/5 ] && [ ! -e /proc/$1/fd/3 ]
}
"$HOLD" inflight /dev/lab_dev </dev/null >/dev/null 2>&1 &
Q1=$!
wait_until 10 in_flight $Q1 || diag "setup: lab-hold inflight (pid $Q1) did not get its file in flight"
check_refs "the shared file and one in flight in a unix socket: the shared one named once, 1 reference not attributed" \
	"$(header lab_dev)
$(file_line $P1 3 /dev/lab_dev) (shared with pid $C1 (lab-hold) fd 3)
  1 reference not attributed" lab_dev
release $C1 $P1
# The child is not this shell's: wait for the kernel to drop the file.
wait_until 10 eval '[ "$(refcount lab_dev)" = 1 ]' || diag "lab_dev's refcount after the shared file's holders ended: $(refcount lab_dev)"
check_refs "only a file in flight: 1 reference not attributed" \
	"$(header lab_dev)
  1 reference not attributed" lab_dev
release $Q1
wait_until 10 eval '[ "$(refcount lab_dev)" = 0 ]' || diag "lab_dev's refcount after its holders ended: $(refcount lab_dev)"
kunload lab_dev

# --- 3: a block device ----------------------------------------------------------------

"$KMOD/modprobe" brd rd_nr=1 rd_size=1024 || diag "setup: modprobe brd failed"
hold P1 /dev/ram0 file /dev/ram0
check_refs "a process holding brd's /dev/ram0 (the disk's owner)" \
	"$(header brd)
$(file_line $P1 3 /dev/ram0)" brd
release $P1
kunload brd

# --- 4: a socket of a protocol module ---------------------------------------------------

"$KMOD/modprobe" af_key || diag "setup: modprobe af_key failed"
hold P1 'socket:\[*\]' socket pfkey
sock=$(readlink /proc/$P1/fd/3)
check "setup: a PF_KEY socket holds 2 references on af_key ($(refcount af_key))" [ "$(refcount af_key)" = 2 ]
check_refs "a PF_KEY socket: 2 references (proto_ops and proto) on af_key; af_key holds xfrm_algo" \
	"$(header af_key)
$(file_line $P1 3 "$sock") (2 references)
$(header xfrm_algo)
  module af_key" af_key xfrm_algo
release $P1
kunload af_key xfrm_algo

# --- 5: vfat on loop devices -------------------------------------------------------------

# request_module cannot run in the guest (no /sbin/modprobe): load what the
# mounts will ask for.
for m in loop vfat nls_cp437 nls_ascii nls_utf8; do
	"$KMOD/modprobe" $m || diag "setup: modprobe $m failed"
done
mkdir -p /mnt/v /mnt/w
for img in /tmp/v.img /tmp/w.img; do
	dd if=/dev/zero of=$img bs=1k count=2048 2>/dev/null && mkdosfs $img >/dev/null ||
		diag "setup: making $img failed"
done
# Default options: codepage 437 and the default iocharset (Debian: ascii).
mount -t vfat -o loop,codepage=437 /tmp/v.img /mnt/v || diag "setup: mounting /tmp/v.img failed"
dev_v=$(mount_source /mnt/v)
io_v=$(mount_option /mnt/v iocharset)
diag "/mnt/v: $(grep ' /mnt/v ' /proc/self/mountinfo)"
check "setup: /mnt/v is on a loop device ($dev_v), iocharset $io_v" \
	eval 'case $dev_v in /dev/loop*) true ;; *) false ;; esac && [ -n "$io_v" ]'
check_refs "vfat on a loop device: the mount holds vfat, the NLS tables and loop; vfat holds fat; the loop device holds loop" \
	"$(header vfat)
  mount /mnt/v (vfat on $dev_v)
$(header fat)
  module vfat
$(header nls_cp437)
  mount /mnt/v (vfat on $dev_v, character set table)
$(header nls_$io_v)
  mount /mnt/v (vfat on $dev_v, character set table)
$(header loop)
  mount /mnt/v (vfat on $dev_v, block device)
  loop device $dev_v (backing file /tmp/v.img)" vfat fat nls_cp437 nls_$io_v loop

# A second mount, iocharset=utf8: nls_utf8 and a second reference on
# nls_cp437, vfat and (twice) loop.
mount -t vfat -o loop,codepage=437,iocharset=utf8 /tmp/w.img /mnt/w || diag "setup: mounting /tmp/w.img failed"
dev_w=$(mount_source /mnt/w)
diag "/mnt/w: $(grep ' /mnt/w ' /proc/self/mountinfo)"
check_refs "two vfat mounts: each named once per module it holds" \
	"$(header vfat)
  mount /mnt/v (vfat on $dev_v)
  mount /mnt/w (vfat on $dev_w)
$(header nls_cp437)
  mount /mnt/v (vfat on $dev_v, character set table)
  mount /mnt/w (vfat on $dev_w, character set table)
$(header nls_utf8)
  mount /mnt/w (vfat on $dev_w, character set table)
$(header loop)
  mount /mnt/v (vfat on $dev_v, block device)
  mount /mnt/w (vfat on $dev_w, block device)
  loop device $dev_v (backing file /tmp/v.img)
  loop device $dev_w (backing file /tmp/w.img)" vfat nls_cp437 nls_utf8 loop
umount /mnt/v
umount /mnt/w
# busybox's mount -o loop sets autoclear; detach anyway.
losetup -d "$dev_v" 2>/dev/null
losetup -d "$dev_w" 2>/dev/null

# A loop device bound without a mount: only the loop driver's own reference.
losetup /dev/loop2 /tmp/v.img || diag "setup: losetup /dev/loop2 failed"
check_refs "a bound loop device without a mount: the loop driver's own reference" \
	"$(header loop)
  loop device /dev/loop2 (backing file /tmp/v.img)" loop
losetup -d /dev/loop2
kunload vfat fat nls_cp437 nls_ascii nls_utf8 loop
rm -f /tmp/v.img /tmp/w.img

# --- 6: a holder module beside an open file --------------------------------------------

kload lab_provider
kload lab_dev
kload lab_user
hold P1 /dev/lab_dev file /dev/lab_dev
check_refs "lab_user holds lab_dev and lab_provider, a process holds lab_dev too; lab_user has none" \
	"$(header lab_dev)
  module lab_user
$(file_line $P1 3 /dev/lab_dev)
$(header lab_provider)
  module lab_user
lab_user: refcount 0" lab_dev lab_provider lab_user

# --- 7: rmmod of a module in use ----------------------------------------------------------

# PROC_NOTE: the note that open files were looked for through /proc (rmmod
# says it among its lines, lsmod on stderr), a basic regular expression.
PROC_NOTE="open files .*through /proc"

# after_first OUT: the lines after the first, without the /proc note.
after_first() {
	printf '%s\n' "$1" | sed 1d | grep -v "^rmmod: $PROC_NOTE"
}

# note_count OUT: how many lines of OUT are the /proc note.
note_count() {
	printf '%s\n' "$1" | grep -c "^rmmod: $PROC_NOTE"
}

# check_rmmod_holders DESC EXPECTED: rmmod lab_dev; ours exits 1 like kmod,
# its first line is kmod's, then EXPECTED, a line for each holder that
# kmod's line does not name (holder modules are in kmod's "in use by: ...").
# Through /proc: the note once, and each line as expected, or marked
# approximate, or (a file left unattributed) naming no pid.
check_rmmod_holders() {
	_desc=$1 _exp=$2
	run ours rmmod lab_dev
	run kmod rmmod lab_dev
	_first=$(printf '%s\n' "$OUT_ours" | head -n 1)
	_kfirst=$(printf '%s\n' "$OUT_kmod" | head -n 1)
	_rest=$(after_first "$OUT_ours")
	_why=
	[ "$RC_ours" = 1 ] && [ "$RC_kmod" = 1 ] || _why="exit $RC_ours (kmod $RC_kmod)"
	[ "$_first" = "$_kfirst" ] || _why="${_why:+$_why; }first line is not kmod's"
	if [ "$REFS_FILES" = bpf ]; then
		[ "$_rest" = "$_exp" ] || _why="${_why:+$_why; }not the expected holder lines"
		[ "$(note_count "$OUT_ours")" = 0 ] || _why="${_why:+$_why; }a note on /proc although BPF ran"
	else
		[ "$(note_count "$OUT_ours")" = 1 ] || _why="${_why:+$_why; }not one note that open files were found through /proc"
		[ "$(printf '%s\n' "$_rest" | wc -l)" = "$(printf '%s\n' "$_exp" | wc -l)" ] ||
			_why="${_why:+$_why; }not one line per holder"
		_wrong=$(printf '%s\n' "$_rest" | while read -r _l; do
			has_line "$_exp" "$_l" || has_line "$_exp" "${_l% (approximate)}" ||
				case $_l in *"pid "*) echo "$_l" ;; esac
		done)
		[ -z "$_wrong" ] || _why="${_why:+$_why; }names a holder it is not: $_wrong"
	fi
	if [ -z "$_why" ]; then
		ok "$_desc"
		if [ "${LAB_VERBOSE:-0}" = 1 ] || [ "$REFS_FILES" = proc ]; then show_both; fi
	else
		not_ok "$_desc"
		show_both
		diag "expected after kmod's line:" "$_exp" "wrong: $_why"
	fi
}

check_rmmod_holders "rmmod lab_dev, held by lab_user and a process: kmod's line (naming lab_user), then the process" \
	"rmmod: lab_dev is held by pid $P1 (lab-hold) fd 3 /dev/lab_dev"
check "rmmod lab_dev refused: kmod's 'is in use by: lab_user'" has_line "$OUT_kmod" "rmmod: ERROR: Module lab_dev is in use by: lab_user"
release $P1
kunload lab_user lab_provider

hold P1 /dev/lab_dev file /dev/lab_dev
hold P2 /dev/lab_dev file /dev/lab_dev
check_rmmod_holders "rmmod lab_dev, held by two processes: kmod's line, then one line each" \
	"rmmod: lab_dev is held by pid $P1 (lab-hold) fd 3 /dev/lab_dev
rmmod: lab_dev is held by pid $P2 (lab-hold) fd 3 /dev/lab_dev"
check "rmmod lab_dev refused: kmod's first line is 'rmmod: ERROR: Module lab_dev is in use'" \
	[ "$_kfirst" = "rmmod: ERROR: Module lab_dev is in use" ]
check "rmmod lab_dev refused: still loaded" is_loaded lab_dev
release $P2

# --- 8: rmmod --wait names what it waits for ----------------------------------------------

: >/tmp/rmmod.out
uptime_ms t0
timeout 60 "$OURS/rmmod" --wait lab_dev </dev/null >/tmp/rmmod.out 2>&1 &
RMMOD=$!
wait_until 20 grep -q 'waiting for' /tmp/rmmod.out
uptime_ms t_said
release $P1
wait $RMMOD
RC_ours=$?
uptime_ms t1
OUT_ours=$(cat /tmp/rmmod.out)
diag "rmmod --wait lab_dev: said it waits after $((t_said - t0)) ms, ended $((t1 - t0)) ms after it started (exit $RC_ours):" "$OUT_ours"
_want="rmmod: waiting for lab_dev: held by pid $P1 (lab-hold) fd 3 /dev/lab_dev"
if [ "$REFS_FILES" = bpf ]; then
	check "rmmod --wait: '$_want', once" eval '[ "$OUT_ours" = "$_want" ]'
else
	# Through /proc: the note, then that line marked approximate, or one
	# that names no pid.
	_note=$(printf '%s\n' "$OUT_ours" | grep -c "^rmmod: $PROC_NOTE")
	_line=$(printf '%s\n' "$OUT_ours" | grep -v "^rmmod: $PROC_NOTE")
	check "rmmod --wait through /proc: the note once, one waiting line, naming pid $P1 approximately or no pid" eval '
		[ "$_note" = 1 ] && [ "$(printf "%s\n" "$_line" | wc -l)" = 1 ] &&
		case $_line in
		"$_want (approximate)") true ;;
		"rmmod: waiting for lab_dev: "*"pid "*) false ;;
		"rmmod: waiting for lab_dev: "*) true ;;
		*) false ;;
		esac'
fi
check "rmmod --wait: said so after about 1 s ($((t_said - t0)) ms)" [ $((t_said - t0)) -ge 900 ]
check "rmmod --wait: exit 0 once the holder was killed" [ "$RC_ours" = 0 ]
check "rmmod --wait: lab_dev is gone" eval '! is_loaded lab_dev'
kunload lab_dev

finish
