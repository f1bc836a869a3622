# lab: tree
# lab: memory 1024
# Firewall rules as holders (issue 19), with Debian's modules and its nft and
# iptables: each rule below holds its modules, and our `lsmod --refs` names
# the rule with the whole refcount attributed ("not attributed" nowhere),
# --json the same with the command that lets go; rmmod names the rule.
#   - nft: `ct state established accept` holds nft_ct, one per expression;
#   - nft: a nat chain holds nft_chain_nat, its masquerade rule nft_masq;
#   - iptables-legacy: `-m conntrack` holds xt_conntrack (x_tables);
#   - iptables-nft: the same rule, nft_compat's match expression holding
#     nft_compat and xt_conntrack.
. /lab/scenarios/lib.sh

NFT=/usr/sbin/nft
# The kernel loads what the tools ask for, as on a real system.
echo /kmod/bin/modprobe >/proc/sys/kernel/modprobe

refcount() {
	awk -v m="$1" '$1 == m { print $3 }' /proc/modules
}

# refs MODULE: our lsmod --refs MODULE into REFS_OUT (stdout and stderr).
refs() {
	REFS_OUT=$("$OURS/lsmod" --refs "$1" 2>&1)
}

# held MODULE LINE DESC: MODULE is loaded and held, our lsmod --refs names
# LINE among its references and leaves nothing unattributed; --json says
# "unattributed": 0.
held() {
	_m=$1 _line=$2 _desc=$3
	refs "$_m"
	_ok=0
	[ -n "$(refcount "$_m")" ] && [ "$(refcount "$_m")" -gt 0 ] || _ok=1
	printf '%s\n' "$REFS_OUT" | grep -qxF "  $_line" || _ok=1
	case $REFS_OUT in *"not attributed"*) _ok=1 ;; esac
	run_json lsmod --refs "$_m"
	json_holds '"unattributed": 0' || _ok=1
	if [ $_ok = 0 ]; then
		ok "$_desc"
	else
		not_ok "$_desc"
		diag "refcount $(refcount "$_m"), wanted line: $_line" "$REFS_OUT" "$JSON_OUT"
	fi
}

# json_holds TEXT...: our lsmod --refs --json's output (several lines) holds
# each TEXT.
json_holds() {
	for _t in "$@"; do
		case $JSON_OUT in
		*"$_t"*) ;;
		*) return 1 ;;
		esac
	done
}

# attributed: REFS_OUT says nothing is left unattributed.
attributed() {
	case $REFS_OUT in *"not attributed"*) return 1 ;; esac
}

# handle_of FAMILY TABLE CHAIN PATTERN: the handle of the rule matching PATTERN.
handle_of() {
	"$NFT" -a list chain "$1" "$2" "$3" | awk -v p="$4" '$0 ~ p { print $NF }' | head -n 1
}

# -- nft: ct ----------------------------------------------------------------
"$NFT" add table inet t &&
	"$NFT" add chain inet t c '{ type filter hook input priority 0; }' &&
	"$NFT" add rule inet t c ct state established accept ||
	diag "setup: nft rule failed"
h=$(handle_of inet t c "ct state")
held nft_ct "nftables rule: table inet t chain c handle $h (ct); let go with: nft delete rule inet t c handle $h" \
	"nft ct rule: nft_ct held by the rule, all attributed"
run_json lsmod --refs nft_ct
check "--json names the rule's kind and how to delete it" \
	json_holds '"kind": "nftables"' "\"release_command\": \"nft delete rule inet t c handle $h\"" ||
	diag "$JSON_OUT"
_out=$("$OURS/rmmod" nft_ct 2>&1)
diag "# rmmod nft_ct" "$_out" "# lsmod --refs nft_ct" "$("$OURS/lsmod" --refs nft_ct 2>&1)"
check "rmmod nft_ct fails and names the rule" \
	has_line "$_out" "rmmod: nft_ct is held by nftables rule: table inet t chain c handle $h (ct); let go with: nft delete rule inet t c handle $h" ||
	diag "$_out"
"$NFT" add rule inet t c ct state related ct mark 1 accept
refs nft_ct
check "two ct expressions in one rule: two references on nft_ct, all attributed" \
	eval 'printf "%s\n" "$REFS_OUT" | grep -q "(ct) (2 references); let go with: nft delete rule inet t c handle [0-9]*\$" && attributed' ||
	diag "refcount $(refcount nft_ct)" "$REFS_OUT"

# -- nft: nat chain and masquerade -----------------------------------------
"$NFT" add table ip n &&
	"$NFT" add chain ip n post '{ type nat hook postrouting priority 100; }' &&
	"$NFT" add rule ip n post masquerade ||
	diag "setup: nft nat chain failed"
held nft_chain_nat "nftables chain: table ip n chain post (nat chain); let go with: nft delete chain ip n post" \
	"nat chain: nft_chain_nat held by the chain"
h=$(handle_of ip n post masquerade)
held nft_masq "nftables rule: table ip n chain post handle $h (masq); let go with: nft delete rule ip n post handle $h" \
	"masquerade: nft_masq held by the rule"
"$NFT" delete table ip n
"$NFT" delete table inet t

# -- iptables-legacy -------------------------------------------------------
/usr/sbin/iptables-legacy -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT ||
	diag "setup: iptables-legacy failed"
held xt_conntrack "iptables rule: filter INPUT #1 (-m conntrack); let go with: iptables-legacy -D INPUT 1" \
	"iptables-legacy -m conntrack: xt_conntrack held by the rule"
run_json lsmod --refs xt_conntrack
check "--json: iptables kind, iptables-legacy -D INPUT 1" \
	json_holds '"kind": "iptables"' '"release_command": "iptables-legacy -D INPUT 1"' ||
	diag "$JSON_OUT"
_out=$("$OURS/rmmod" xt_conntrack 2>&1)
check "rmmod xt_conntrack names the legacy rule" \
	has_line "$_out" "rmmod: xt_conntrack is held by iptables rule: filter INPUT #1 (-m conntrack); let go with: iptables-legacy -D INPUT 1" ||
	diag "$_out"

# -- iptables-nft, beside the legacy rule ----------------------------------
/usr/sbin/iptables-nft -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT ||
	diag "setup: iptables-nft failed"
"$NFT" list table ip filter | sed 's/^/# nft: /'
diag "# lsmod --refs xt_conntrack nft_compat" "$("$OURS/lsmod" --refs xt_conntrack nft_compat 2>&1)"
refs xt_conntrack
run_json lsmod --refs xt_conntrack
_n=$(printf '%s\n' "$REFS_OUT" | grep -cxF -e "  iptables rule: filter INPUT #1 (-m conntrack); let go with: iptables-legacy -D INPUT 1" \
	-e "  iptables rule: filter INPUT #1 (-m conntrack); let go with: iptables-nft -D INPUT 1")
if is_loaded nft_compat; then
	check "iptables-nft -m conntrack: xt_conntrack held by both rules, all attributed" \
		eval '[ "$_n" = 2 ] && attributed && json_holds "\"release_command\": \"iptables-nft -D INPUT 1\""' ||
		diag "refcount $(refcount xt_conntrack)" "$REFS_OUT" "$JSON_OUT"
	held nft_compat "iptables rule: filter INPUT #1 (-m conntrack); let go with: iptables-nft -D INPUT 1" \
		"iptables-nft: nft_compat held by the rule's match"
else
	# iptables-nft wrote the match as nf_tables' own expressions.
	held nft_ct "iptables rule: filter INPUT #1 (ct); let go with: iptables-nft -D INPUT 1" \
		"iptables-nft --ctstate as a ct expression: nft_ct held by the rule"
fi
/usr/sbin/iptables-nft -D INPUT 1
/usr/sbin/iptables-legacy -D INPUT 1
"$NFT" flush ruleset

finish
