# Module names with dashes: the file lab-dash.ko holds the module lab_dash.
# The kernel only knows lab_dash; rmmod must accept either spelling (and a
# path), lsmod shows lab_dash.
. /lab/scenarios/lib.sh

# both_dash DESC SETUP TOOL ARGS...: from the state SETUP makes, run TOOL
# ARGS with each tool and record whether lab_dash is loaded afterwards.
both_dash() {
	_d=$1 _setup=$2
	shift 2
	for who in ours kmod; do
		eval "$_setup"
		run $who "$@"
		_l=no
		is_loaded lab_dash && _l=yes
		eval "LOADED_$who=\$_l"
		kunload lab_dash
	done
	same_as_kmod "$_d"
}

both_dash "insmod lab-dash.ko" : insmod $MODS/lab-dash.ko
check "ours: insmod lab-dash.ko loads lab_dash" [ "$LOADED_ours" = yes ]
check "no module named lab-dash in /sys/module" [ ! -e /sys/module/lab-dash ]

both_dash "rmmod lab-dash (dash spelling)" 'kload lab-dash' rmmod lab-dash
check "ours: rmmod lab-dash removed lab_dash" [ "$LOADED_ours" = no ]

both_dash "rmmod lab_dash (underscore spelling)" 'kload lab-dash' rmmod lab_dash
check "ours: rmmod lab_dash removed lab_dash" [ "$LOADED_ours" = no ]

both_dash "rmmod $MODS/lab-dash.ko (path)" 'kload lab-dash' rmmod $MODS/lab-dash.ko
check "ours: rmmod by path removed lab_dash" [ "$LOADED_ours" = no ]

both_dash "rmmod lab-dash when not loaded" : rmmod lab-dash

both_dash "insmod lab-dash.ko twice: 'File exists'" 'kload lab-dash' insmod $MODS/lab-dash.ko

kload lab-dash
run ours lsmod
run kmod lsmod
same_as_kmod "lsmod with lab_dash loaded"
check "ours: lsmod lists lab_dash, not lab-dash" \
	eval 'printf "%s\n" "$OUT_ours" | grep -q "^lab_dash " && ! printf "%s\n" "$OUT_ours" | grep -q "^lab-dash"'
kunload lab_dash

finish
