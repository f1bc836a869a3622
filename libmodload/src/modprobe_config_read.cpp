// Finding and reading the configuration files in kmod's order (kmod_config_new), each through
// one descriptor that is checked, as a dependency's file is, before a byte of it is used.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>

#include <fcntl.h>

#include <modload/load_plan.hpp>
#include <modload/modprobe_config.hpp>
#include <modload/unique_fd.hpp>

namespace modload {

namespace {

// kmod 30's default_config_paths, with kmod 32's /usr/lib/modprobe.d (DISTCONFDIR) before
// /lib/modprobe.d. Where /lib is /usr/lib, their files have the same names and the first hides
// the second.
constexpr const char* kFolders[] = {"/etc/modprobe.d", "/run/modprobe.d",
                                    "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d",
                                    "/lib/modprobe.d"};
constexpr std::size_t kMaxConfigSize = std::size_t{4} << 20;

struct Candidate {
    std::filesystem::path path;
    ConfigSource source = ConfigSource::modprobe_d;
};

bool is_config_name(const std::string& name) {
    return name.front() != '.' && name.size() >= 6 &&
           (name.ends_with(".conf") || name.ends_with(".alias"));
}

bool is_dev_null(const FileStatus& st) {
    return st.type == FileType::character_device && st.rdev_major == 1 && st.rdev_minor == 3;
}

// Why `folder` may not be trusted, nullopt when it may; errors other than its absence are errors.
Result<std::optional<std::string>> folder_distrust(System& system,
                                                   const std::filesystem::path& folder) {
    auto st = system.stat_given(folder.string());
    if (!st) {
        return make_error(st.error().code, folder.string());
    }
    if (auto why = untrusted_because(st->mode, st->uid, system.effective_uid())) {
        return std::optional<std::string>("in folder " + folder.string() + ", which is " + *why);
    }
    return std::optional<std::string>();
}

// Adds the configuration files of `folder` to `by_name`, after those of earlier folders.
Result<void> list_folder(System& system, const std::filesystem::path& folder,
                         std::map<std::string, std::vector<Candidate>>& by_name,
                         ModprobeConfig& config) {
    auto st = system.stat_given(folder.string());
    if (!st) {
        return st.error().code == ENOENT
                   ? Result<void>()
                   : Result<void>(make_error(st.error().code, folder.string()));
    }
    if (st->type != FileType::directory) {
        return make_error(ENOTDIR, folder.string());
    }
    if (auto why = untrusted_because(st->mode, st->uid, system.effective_uid())) {
        config.refused.push_back(ConfigRefusal{folder, "folder " + *why});
        return {};
    }
    auto listed = system.list_given(folder.string(), [&](const FolderEntry& entry) {
        if (is_config_name(entry.name)) {
            by_name[entry.name].push_back(Candidate{folder / entry.name, ConfigSource::modprobe_d});
        }
        return true;
    });
    if (!listed) {
        return make_error(listed.error().code, folder.string());
    }
    return {};
}

// What reading one file came to.
enum class Outcome {
    read,     // `text` holds it (empty for /dev/null)
    absent,   // not there: it hides later files of its name, as kmod lists it
    skipped,  // a folder, refused: later files of its name are read instead
};

// Opens and reads `path` through one descriptor, after checking that no other user could have
// written it. O_NONBLOCK: a FIFO named *.conf must not hang the caller at open.
Result<Outcome> read_file(System& system, const std::filesystem::path& path, ConfigSource source,
                          std::string& text, ModprobeConfig& config) {
    auto fd = system.open_given(path.string(), O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (!fd) {
        if (fd.error().code == ENOENT) {
            return Outcome::absent;
        }
        return make_error(fd.error().code, path.string());
    }
    auto st = system.fstat(fd->get());
    if (!st) {
        return make_error(st.error().code, path.string());
    }
    if (st->type == FileType::directory) {
        config.ignored.push_back(
            ConfigIgnored{ConfigOrigin{source, path, 0, {}}, "a folder, not read"});
        return Outcome::skipped;
    }
    if (is_dev_null(*st)) {
        text.clear();
        return Outcome::read;
    }
    if (st->type != FileType::regular) {
        config.refused.push_back(ConfigRefusal{path, "not a regular file"});
        return Outcome::skipped;
    }
    if (auto why = untrusted_because(st->mode, st->uid, system.effective_uid())) {
        config.refused.push_back(ConfigRefusal{path, *why});
        return Outcome::skipped;
    }
    // A symbolic link leads to a file in another folder, which must be trusted as well.
    auto link = system.lstat_given(path.string());
    if (!link) {
        return make_error(link.error().code, path.string());
    }
    if (link->type == FileType::symlink) {
        auto real = system.canonical_given(path.string());
        if (!real) {
            return make_error(real.error().code, path.string());
        }
        auto why = folder_distrust(system, std::filesystem::path(*real).parent_path());
        if (!why) {
            return why.error();
        }
        if (*why) {
            config.refused.push_back(ConfigRefusal{path, **why});
            return Outcome::skipped;
        }
    }
    text.clear();
    if (auto r = system.read_all(fd->get(), text, kMaxConfigSize, true); !r) {
        return make_error(r.error().code, path.string());
    }
    return Outcome::read;
}

bool is_release(std::string_view release) {
    return !release.empty() && release.find('/') == std::string_view::npos && release != "." &&
           release != "..";
}

}  // namespace

Result<ModprobeConfig> read_modprobe_config(System& system, std::string_view release) {
    ModprobeConfig config;
    // By file name, and for each name the files that have it, in the folders' order.
    std::map<std::string, std::vector<Candidate>> by_name;
    if (is_release(release)) {
        by_name["modules.softdep"].push_back(
            Candidate{system.path("/lib/modules/" + std::string(release) + "/modules.softdep"),
                      ConfigSource::modules_softdep});
    }
    for (const char* folder : kFolders) {
        if (auto r = list_folder(system, system.path(folder), by_name, config); !r) {
            return r.error();
        }
    }
    for (const auto& [name, candidates] : by_name) {
        for (const Candidate& candidate : candidates) {
            std::string text;
            auto outcome = read_file(system, candidate.path, candidate.source, text, config);
            if (!outcome) {
                return outcome.error();
            }
            if (candidate.source == ConfigSource::modules_softdep && *outcome == Outcome::read) {
                // The module folder is depmod's; whoever can write it can write the modules.
                // Asked only once the file is there: the folder is then there too, and a
                // failure to look at it is an error, not an absence.
                auto why = folder_distrust(system, candidate.path.parent_path());
                if (!why) {
                    return why.error();
                }
                if (*why) {
                    config.refused.push_back(ConfigRefusal{candidate.path, **why});
                    continue;
                }
            }
            if (*outcome == Outcome::skipped) {
                continue;
            }
            if (*outcome == Outcome::read) {
                config.files.push_back(candidate.path);
                parse_modprobe_config(text, candidate.path, candidate.source, config);
            } else if (candidate.source == ConfigSource::modprobe_d) {
                config.ignored.push_back(ConfigIgnored{
                    ConfigOrigin{candidate.source, candidate.path, 0, {}}, "not there"});
            }
            break;
        }
    }
    const std::filesystem::path cmdline = system.path("/proc/cmdline");
    std::string text;
    auto outcome = read_file(system, cmdline, ConfigSource::kernel_cmdline, text, config);
    if (!outcome) {
        return outcome.error();
    }
    if (*outcome == Outcome::read) {
        config.files.push_back(cmdline);
        parse_kernel_cmdline(text, cmdline, config);
    }
    return config;
}

}  // namespace modload
