# Module parameters: what the kernel ends up holding
# (/sys/module/lab_params/parameters/*) after our insmod and after kmod's,
# for int, charp, bool and int-array parameters, plus the refusals.
. /lab/scenarios/lib.sh

P=lab_params

# params_after WHO ARGS...: insmod lab_params.ko ARGS with WHO's tool, then
# record "number|name|flag|values" (or "not loaded") in PARAMS_<who>.
params_after() {
	_who=$1
	shift
	run $_who insmod $MODS/$P.ko "$@"
	if is_loaded $P; then
		_v="$(param $P number)|$(param $P name)|$(param $P flag)|$(param $P values)"
	else
		_v="not loaded"
	fi
	eval "PARAMS_$_who=\$_v"
	kunload $P
}

# both_params DESC EXPECTED ARGS...: both tools must exit alike and leave
# the parameters at EXPECTED ("number|name|flag|values").
both_params() {
	_d=$1 _exp=$2
	shift 2
	params_after ours "$@"
	params_after kmod "$@"
	same_as_kmod "$_d: same exit status and message as kmod"
	if [ "$PARAMS_ours" = "$_exp" ] && [ "$PARAMS_kmod" = "$_exp" ]; then
		ok "$_d: parameters are $_exp"
	else
		not_ok "$_d: parameters are $_exp"
		diag "\$ $CMD" "ours: $PARAMS_ours" "kmod: $PARAMS_kmod"
	fi
}

both_params "defaults" '7|default|N|' 
both_params "int, charp, bool, array" '42|hello|Y|1,2,3' \
	number=42 name=hello flag=Y values=1,2,3
both_params "negative int, bool as 0, one-element array" '-5|default|N|9' \
	number=-5 flag=0 values=9
both_params "bare bool name means true" '7|default|Y|' flag
both_params "bool given as 1" '7|default|Y|' flag=1
both_params "charp with the quotes already in the argument" '7|two words|N|' \
	'name="two words"'
both_params "later value of the same parameter wins" '2|default|N|' \
	number=1 number=2
both_params "unknown parameter is ignored by the kernel" '7|default|N|' \
	bogus=1
both_params "invalid int: 'Invalid parameters'" 'not loaded' number=abc
both_params "invalid bool: 'Invalid parameters'" 'not loaded' flag=maybe
both_params "array longer than 4: 'Invalid parameters'" 'not loaded' \
	values=1,2,3,4,5

# A value with a space given as one shell word.  kmod 30 joins the
# arguments with spaces without quoting, so the kernel sees name=two plus an
# unknown parameter "words" and sets "two".  Ours must keep the word whole.
params_after ours 'name=two words'
params_after kmod 'name=two words'
check "charp with a space in one argument: ours sets 'two words' (kmod 30 differs: it sets 'two')" \
	[ "$PARAMS_ours" = '7|two words|N|' ]
if [ "$PARAMS_ours" != '7|two words|N|' ]; then
	diag "\$ $CMD" "ours: $PARAMS_ours (exit $RC_ours) $OUT_ours"
fi
diag "kmod 30 for comparison: $PARAMS_kmod"
check "charp with a space: ours exits 0 and prints nothing" \
	[ "$RC_ours" = 0 -a -z "$OUT_ours" ]

params_after ours 'name=a b  c' number=3
check "charp with several spaces next to another parameter: ours sets 'a b  c'" \
	[ "$PARAMS_ours" = '3|a b  c|N|' ]
[ "$PARAMS_ours" = '3|a b  c|N|' ] || diag "ours: $PARAMS_ours (exit $RC_ours) $OUT_ours"

finish
