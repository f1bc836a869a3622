# fish completion for rmmod (modload): options, and the names of the loaded modules, read from
# /proc/modules.

# The first field of each /proc/modules line is a loaded module's name. Read directly, not from
# lsmod's output: the file is one cheap read and its format is the kernel's.
function __rmmod_loaded_modules
    test -r /proc/modules; or return 0
    string replace -r -- ' .*' '' </proc/modules
end

complete -c rmmod -f
complete -c rmmod -s h -l help -d 'show the options and exit'
complete -c rmmod -s V -l version -d 'show the version and exit'
complete -c rmmod -s f -l force -d 'remove even a module in use (dangerous)'
# --wait=MSEC takes its value in the same word only; fish cannot offer it, so it is a flag here.
complete -c rmmod -s w -l wait -d 'wait until the module can be removed (--wait=MSEC: at most)'
complete -c rmmod -l remove-holders -d 'first remove the modules that use MODULE'
complete -c rmmod -s r -l remove-deps -d 'then remove the modules left unused'
complete -c rmmod -s n -l dry-run -d 'print what would be removed, in order'
complete -c rmmod -l json -d 'print what happened as one JSON object'
complete -c rmmod -s s -l syslog -d 'report errors to syslog, not stderr'
complete -c rmmod -s v -l verbose -d 'say what is done'
complete -c rmmod -a '(__rmmod_loaded_modules)' -d 'loaded module'
