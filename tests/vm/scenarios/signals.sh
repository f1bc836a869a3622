# Ctrl-C to a bash script that runs `rmmod --wait` on a module held open:
# the whole script must stop, as for any command interrupted by Ctrl-C.
#
# A terminal's Ctrl-C sends SIGINT to the foreground process group: bash
# and rmmod both get it.  bash (waiting for rmmod) goes on with the script
# when rmmod exits normally, and stops itself with SIGINT only when rmmod
# died of SIGINT.  So rmmod, after saying that it was interrupted, must
# restore the default action and re-raise the signal; the script then ends
# with status 130 and never runs the next command.  SIGTERM kills bash
# itself at once (status 143); rmmod must still say it was interrupted.
#
# The script runs as a process group of its own (setsid: a foreground
# command of this ash is not a group leader, so setsid execs it in place and
# the script's pid is its process group's id), in the foreground of this
# ash: a background command of a shell without job control starts with
# SIGINT ignored, and ignored it would stay for bash and rmmod.
. /lab/scenarios/lib.sh

cat >/tmp/script.sh <<EOF
#!/bin/bash
echo \$\$ >/tmp/script.pid
$OURS/rmmod --wait lab_dev
echo next
EOF
chmod 755 /tmp/script.sh

# rmmod_running: an rmmod process is there.
rmmod_running() {
	for _c in /proc/[0-9]*/comm; do
		[ "$(cat "$_c" 2>/dev/null)" = rmmod ] && return 0
	done
	return 1
}

kload lab_dev
exec 3</dev/lab_dev
for sig in INT TERM; do
	case $sig in INT) want=130 ;; TERM) want=143 ;; esac
	rm -f /tmp/script.pid
	: >/tmp/script.out
	# The interrupter, in the background: once rmmod has said it is
	# waiting (a second into the wait, its handlers long in place), the
	# signal goes to the script's process group, as from a terminal.
	(
		exec 3<&-
		wait_until 20 grep -q 'waiting for' /tmp/script.out || exit 1
		_pid=$(cat /tmp/script.pid)
		read -r _stat </proc/$_pid/stat
		set -- ${_stat##*") "}
		[ "$3" = "$_pid" ] || echo "process group $3, not $_pid" >/tmp/interrupter.note
		kill -$sig -$_pid
	) >/dev/null 2>&1 &
	interrupter=$!
	uptime_ms t0
	timeout 30 setsid /tmp/script.sh >/tmp/script.out 2>&1 3<&-
	rc=$?
	uptime_ms t1
	wait $interrupter
	irc=$?
	# bash may be gone before rmmod has written its last words (SIGTERM).
	wait_until 10 eval '! rmmod_running'
	out=$(cat /tmp/script.out)
	diag "SIG$sig to the script's process group: script status $rc after $((t1 - t0)) ms (interrupter exit $irc$( [ -e /tmp/interrupter.note ] && echo ", $(cat /tmp/interrupter.note)"))" \
		"its output:" "$out"
	check "SIG$sig to a script running rmmod --wait: the script stops, status $want ($rc)" [ "$rc" = $want ]
	check "SIG$sig: the script did not go on to its next command" eval '! has_line "$out" next'
	check "SIG$sig: lab_dev is still loaded" is_loaded lab_dev
	if printf '%s\n' "$out" | grep -q 'interrupted'; then
		ok "SIG$sig: rmmod said it was interrupted"
	else
		not_ok "SIG$sig: rmmod said it was interrupted"
	fi
	rm -f /tmp/interrupter.note
done
exec 3<&-
kunload lab_dev

finish
