# fish completion for insmod (modload): options; for FILE, module files (.ko, .ko.zst, .ko.xz,
# .ko.gz) and folders; nothing for the NAME=VALUE parameters after it.

# FILE is the first word that is not an option ("-" is standard input).
function __insmod_wants_file
    for word in (commandline -opc)[2..-1]
        string match -q -- '-?*' $word; or return 1
    end
end

# Folders, to reach the modules inside them, and module files.
function __insmod_module_files
    set -l token (commandline -ct)
    for path in $token*
        if test -d $path
            printf '%s/\n' $path
        else if string match -qr -- '\.ko(\.(zst|xz|gz))?$' $path
            printf '%s\tmodule file\n' $path
        end
    end
end

complete -c insmod -f
complete -c insmod -s h -l help -d 'show the options and exit'
complete -c insmod -s V -l version -d 'show the version and exit'
complete -c insmod -s f -l force -d 'ignore symbol versions and the version magic (taints)'
complete -c insmod -l force-modversion -d 'ignore symbol versions'
complete -c insmod -l force-vermagic -d 'ignore the version magic'
complete -c insmod -s d -l deps -d 'load the missing dependencies first'
complete -c insmod -s n -l dry-run -d 'print the files that would be loaded, in order'
complete -c insmod -l json -d 'print what happened as one JSON object'
complete -c insmod -l keep-dependencies -d 'when the load fails, leave loaded the dependencies it loaded'
complete -c insmod -s s -l syslog -d 'report errors to syslog, not stderr'
complete -c insmod -s v -l verbose -d 'say what is done'
complete -c insmod -n __insmod_wants_file -a '(__insmod_module_files)'
