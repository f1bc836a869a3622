# lab: tree
# lab: memory 1024
# Who holds a module where no open file, mount or module does, with
# Debian's own modules (issue 19):
#   - swap on a zram device (busybox mkswap and swapon): zram's refcount is
#     the swap area's opens of /dev/zram0 (two before Linux 6.9, one since),
#     named "swap on /dev/zram0" with the command that lets go;
#   - a device-mapper device on the same zram device (made by lab-hold dm,
#     as the guest has no dmsetup): one reference, "block device dm-N
#     (lab-lv) uses /dev/zram0";
#   - a TCP socket carrying the "tls" upper-layer protocol (lab-hold socket
#     tls): tls's one reference, named by the process and descriptor, found
#     through sock_diag;
# each refcount wholly attributed by our `lsmod --refs` and --json, and
# rmmod naming the holder after kmod's line.  (md arrays are tested on
# fixture trees only: the guest has no mdadm.)
. /lab/scenarios/lib.sh

HOLD=/lab/bin/lab-hold

refcount() {
	awk -v m="$1" '$1 == m { print $3 }' /proc/modules
}

# refs MODULE: our lsmod --refs MODULE into REFS_OUT (stderr in REFS_ERR).
refs() {
	REFS_OUT=$("$OURS/lsmod" --refs "$1" 2>/tmp/refs.err)
	REFS_RC=$?
	REFS_ERR=$(cat /tmp/refs.err)
}

# counted N: " (N references)" when N > 1, as lsmod --refs writes a count.
counted() {
	[ "$1" -gt 1 ] && echo " ($1 references)"
}

# refs_json MODULE: our lsmod --refs --json MODULE on one line in JSON_OUT,
# for json_has (the line breaks between references are not the interface).
refs_json() {
	run_json lsmod --refs "$1"
	JSON_OUT=$(printf '%s\n' "$JSON_OUT" | tr -d '\n')
}

# check_rmmod MODULE LINE: our rmmod exits like kmod's, prints kmod's text,
# then LINE; the module stays loaded.
check_rmmod() {
	run ours rmmod "$1"
	run kmod rmmod "$1"
	kmod_then "rmmod $1 refused: kmod's words, then the holder" "$2"
	check "rmmod $1 refused: still loaded" is_loaded "$1"
}

# The kernel loads what zram's compressor and sock_diag need as a real system
# does, through kmod's modprobe; the loopback interface is up for the socket.
echo "$KMOD/modprobe" >/proc/sys/kernel/modprobe
ip link set lo up 2>/dev/null || ifconfig lo up

# check_dm: a device-mapper device on /dev/zram0 (lab-hold dm: the guest has
# no dmsetup) holds zram once; named, counted, and gone with the device.
check_dm() {
	if ! "$KMOD/modprobe" dm_mod >/tmp/setup.out 2>&1; then
		not_ok "setup: modprobe dm_mod"
		diag "$(cat /tmp/setup.out)"
		return
	fi
	_before=$(refcount zram)
	"$HOLD" dm lab-lv "$(cat /sys/block/zram0/dev)" "$(cat /sys/block/zram0/size)" \
		</dev/null >/dev/null 2>/tmp/hold.err &
	D=$!
	wait_until 10 eval '[ -n "$(ls /sys/block/zram0/holders)" ]' ||
		diag "setup: lab-hold dm: no holder of zram0" "$(cat /tmp/hold.err)"
	_dm=$(ls /sys/block/zram0/holders)
	check "a dm device on /dev/zram0 takes one reference on zram" \
		[ "$(refcount zram)" = $((_before + 1)) ]
	refs zram
	_line="  block device $_dm (lab-lv) uses /dev/zram0 (approximate); let go with: dmsetup remove lab-lv"
	check "lsmod --refs zram: the dm device, every reference attributed" eval '
		[ "$REFS_RC" = 0 ] && [ "$REFS_OUT" = "zram: refcount $(refcount zram)
$_line" ]' || diag "$REFS_OUT" "$REFS_ERR" "expected the line: $_line"
	refs_json zram
	check "lsmod --refs --json zram: kind block user, the dm device and its member" json_has \
		'"kind": "block user", "count": 1' "\"name\": \"$_dm (lab-lv)\"" \
		'"source": "/dev/zram0"' '"release_command": "dmsetup remove lab-lv"' \
		'"unattributed": 0' || diag "$JSON_OUT"
	check_rmmod zram "rmmod: zram is held by ${_line#  }"
	kill "$D" 2>/dev/null
	wait "$D" 2>/dev/null
	check "the dm device removed, zram is free again" [ "$(refcount zram)" = "$_before" ]
}

# --- 1: swap on zram -----------------------------------------------------------------------
if ! "$KMOD/modprobe" zram >/tmp/setup.out 2>&1; then
	not_ok "setup: modprobe zram"
	diag "$(cat /tmp/setup.out)"
else
	echo 64M >/sys/block/zram0/disksize || diag "setup: zram0's disksize: $(cat /sys/block/zram0/disksize)"
	before=$(refcount zram)
	if mkswap /dev/zram0 >/tmp/setup.out 2>&1 && swapon /dev/zram0 >>/tmp/setup.out 2>&1; then
		held=$(($(refcount zram) - before))
		diag "zram: refcount $before before swapon, $(refcount zram) after (Linux $LAB_KVER)"
		case $LAB_KVER in
		6.1.*) want=2 ;;
		*) want=1 ;;
		esac
		check "swapon /dev/zram0 takes zram $want time(s), as the kernel source counts" [ "$held" = "$want" ]
		refs zram
		_line="  swap on /dev/zram0$(counted "$held") (approximate); let go with: swapoff /dev/zram0"
		check "lsmod --refs zram: the swap area, every reference attributed" eval '
			[ "$REFS_RC" = 0 ] && [ "$REFS_OUT" = "zram: refcount $(refcount zram)
$_line" ]' || diag "$REFS_OUT" "$REFS_ERR" "expected the line: $_line"
		refs_json zram
		check "lsmod --refs --json zram: kind swap, its count and release command" json_has \
			'"kind": "swap", "count": '"$held" '"name": "/dev/zram0"' \
			'"release_command": "swapoff /dev/zram0"' '"unattributed": 0' ||
			diag "$JSON_OUT"
		check_rmmod zram "rmmod: zram is held by swap on /dev/zram0$(counted "$held") (approximate); let go with: swapoff /dev/zram0"
		swapoff /dev/zram0
		check "swapoff /dev/zram0 gives the references back" [ "$(refcount zram)" = "$before" ]
	else
		not_ok "setup: mkswap and swapon /dev/zram0"
		diag "$(cat /tmp/setup.out)"
	fi
	check_dm
	"$KMOD/rmmod" zram >/dev/null 2>&1
fi

# --- 2: a TCP socket with the tls upper-layer protocol ---------------------------------------
# Asking sock_diag about TCP sockets would load inet_diag and tcp_diag (the kernel's modprobe is
# set above): lsmod --refs must not load them, and says why it did not ask.
if "$KMOD/modprobe" tls >/tmp/setup.out 2>&1 && ! grep -q '^tcp_diag ' /proc/modules; then
	refs tls
	check "lsmod --refs tls without tcp_diag loaded: loads nothing, says why it did not ask" eval '
		[ "$REFS_RC" = 0 ] && ! grep -q "^tcp_diag " /proc/modules &&
		case "$REFS_ERR" in *"could not read netlink:sock_diag: Protocol not supported ("*"_diag is not loaded, and asking would load it)"*) true ;; *) false ;; esac' ||
		diag "$REFS_OUT" "$REFS_ERR" "$(grep diag /proc/modules)"
fi
if ! "$KMOD/modprobe" tls >/tmp/setup.out 2>&1 || ! "$KMOD/modprobe" tcp_diag >>/tmp/setup.out 2>&1; then
	not_ok "setup: modprobe tls tcp_diag"
	diag "$(cat /tmp/setup.out)"
else
	before=$(refcount tls)
	"$HOLD" socket tls </dev/null >/dev/null 2>/tmp/hold.err &
	P=$!
	wait_until 10 eval '[ "$(refcount tls)" = $((before + 1)) ]' ||
		diag "setup: lab-hold socket tls: tls's refcount stayed $(refcount tls)" "$(cat /tmp/hold.err)"
	refs tls
	_pattern="  pid $P (lab-hold) fd 3 TCP 127.0.0.1:* -> 127.0.0.1:* with upper-layer protocol tls"
	check "lsmod --refs tls: the process and descriptor of the tls socket, every reference attributed" eval '
		[ "$REFS_RC" = 0 ] && [ "$(refcount tls)" = 1 ] &&
		[ "$(printf "%s\n" "$REFS_OUT" | sed -n 1p)" = "tls: refcount 1" ] &&
		[ "$(printf "%s\n" "$REFS_OUT" | wc -l)" = 2 ] &&
		case "$(printf "%s\n" "$REFS_OUT" | sed -n 2p)" in $_pattern) true ;; *) false ;; esac' ||
		diag "$REFS_OUT" "$REFS_ERR"
	refs_json tls
	check "lsmod --refs --json tls: kind socket layer, the layer and the process" json_has \
		'"kind": "socket layer", "count": 1' '"source": "tls"' "\"pid\": $P" \
		'"command": "lab-hold", "fd": 3' '"unattributed": 0' ||
		diag "$JSON_OUT"
	_line=$(printf '%s\n' "$REFS_OUT" | sed -n 2p)
	check_rmmod tls "rmmod: tls is held by ${_line#  }"
	kill "$P" 2>/dev/null
	wait "$P" 2>/dev/null
	wait_until 10 eval '[ "$(refcount tls)" = "$before" ]'
	check "the socket closed, tls is free again" [ "$(refcount tls)" = "$before" ]
fi

finish
