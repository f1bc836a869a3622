# fish completion for lsmod (modload): options, the keys of --sort, and the names of the loaded
# modules, read from /proc/modules.

# The first field of each /proc/modules line is a loaded module's name. Read directly, not from
# lsmod's output: the file is one cheap read and its format is the kernel's.
function __lsmod_loaded_modules
    test -r /proc/modules; or return 0
    string replace -r -- ' .*' '' </proc/modules
end

complete -c lsmod -f
complete -c lsmod -s h -l help -d 'show the options and exit'
complete -c lsmod -s V -l version -d 'show the version and exit'
complete -c lsmod -s v -l verbose -d 'say what is done'
complete -c lsmod -l syslog -d 'report errors to syslog, not stderr'
# --json and --tree do not go together.
complete -c lsmod -s j -l json -n 'not __fish_seen_argument -s t -l tree' \
    -d 'print a JSON array, one object per module'
complete -c lsmod -s t -l tree -n 'not __fish_seen_argument -s j -l json' \
    -d 'show the modules as a tree of dependencies'
complete -c lsmod -s s -l sort -x -a 'name size refcount' -d 'order the modules by KEY'
complete -c lsmod -s r -l refs -n 'not __fish_seen_argument -l trace' \
    -d 'name who holds each module\'s references'
complete -c lsmod -l trace -n 'not __fish_seen_argument -s r -l refs' \
    -d 'follow each module\'s reference gets and puts live'
complete -c lsmod -a '(__lsmod_loaded_modules)' -d 'loaded module'
