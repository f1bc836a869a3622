// Finding and reading the configuration files in kmod's order (kmod_config_new), each through
// one descriptor that is checked, as a dependency's file is, before a byte of it is used.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <modload/load_plan.hpp>
#include <modload/modprobe_config.hpp>
#include <modload/unique_fd.hpp>

#include "file_io.hpp"

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

struct DirCloser {
    void operator()(DIR* d) const { (void)::closedir(d); }
};

bool is_config_name(const std::string& name) {
    return name.front() != '.' && name.size() >= 6 &&
           (name.ends_with(".conf") || name.ends_with(".alias"));
}

bool is_dev_null(const struct stat& st) {
    return S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

// Why `folder` may not be trusted, nullopt when it may; errors other than its absence are errors.
Result<std::optional<std::string>> folder_distrust(const std::filesystem::path& folder) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) {
        return make_error(errno, folder.string());
    }
    if (auto why = untrusted_because(st.st_mode, st.st_uid, ::geteuid())) {
        return std::optional<std::string>("in folder " + folder.string() + ", which is " + *why);
    }
    return std::optional<std::string>();
}

// Adds the configuration files of `folder` to `by_name`, after those of earlier folders.
Result<void> list_folder(const std::filesystem::path& folder,
                         std::map<std::string, std::vector<Candidate>>& by_name,
                         ModprobeConfig& config) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) {
        return errno == ENOENT ? Result<void>() : Result<void>(make_error(errno, folder.string()));
    }
    if (!S_ISDIR(st.st_mode)) {
        return make_error(ENOTDIR, folder.string());
    }
    if (auto why = untrusted_because(st.st_mode, st.st_uid, ::geteuid())) {
        config.refused.push_back(ConfigRefusal{folder, "folder " + *why});
        return {};
    }
    std::unique_ptr<DIR, DirCloser> listing(::opendir(folder.c_str()));
    if (!listing) {
        return make_error(errno, folder.string());
    }
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(listing.get());
        if (entry == nullptr) {
            if (errno != 0) {
                return make_error(errno, folder.string());
            }
            return {};
        }
        const std::string name = entry->d_name;
        if (is_config_name(name)) {
            by_name[name].push_back(Candidate{folder / name, ConfigSource::modprobe_d});
        }
    }
}

// What reading one file came to.
enum class Outcome {
    read,     // `text` holds it (empty for /dev/null)
    absent,   // not there: it hides later files of its name, as kmod lists it
    skipped,  // a folder, refused: later files of its name are read instead
};

// Opens and reads `path` through one descriptor, after checking that no other user could have
// written it. O_NONBLOCK: a FIFO named *.conf must not hang the caller at open.
Result<Outcome> read_file(const std::filesystem::path& path, ConfigSource source, std::string& text,
                          ModprobeConfig& config) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) {
        if (errno == ENOENT) {
            return Outcome::absent;
        }
        return make_error(errno, path.string());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return make_error(errno, path.string());
    }
    if (S_ISDIR(st.st_mode)) {
        config.ignored.push_back(
            ConfigIgnored{ConfigOrigin{source, path, 0, {}}, "a folder, not read"});
        return Outcome::skipped;
    }
    if (is_dev_null(st)) {
        text.clear();
        return Outcome::read;
    }
    if (!S_ISREG(st.st_mode)) {
        config.refused.push_back(ConfigRefusal{path, "not a regular file"});
        return Outcome::skipped;
    }
    if (auto why = untrusted_because(st.st_mode, st.st_uid, ::geteuid())) {
        config.refused.push_back(ConfigRefusal{path, *why});
        return Outcome::skipped;
    }
    // A symbolic link leads to a file in another folder, which must be trusted as well.
    struct stat link {};
    if (::lstat(path.c_str(), &link) != 0) {
        return make_error(errno, path.string());
    }
    if (S_ISLNK(link.st_mode)) {
        std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr),
                                                         &std::free);
        if (!real) {
            return make_error(errno, path.string());
        }
        auto why = folder_distrust(std::filesystem::path(real.get()).parent_path());
        if (!why) {
            return why.error();
        }
        if (*why) {
            config.refused.push_back(ConfigRefusal{path, **why});
            return Outcome::skipped;
        }
    }
    std::vector<std::byte> bytes;
    if (auto r = detail::read_fd(fd.get(), bytes, kMaxConfigSize, true); !r) {
        return make_error(r.error().code, path.string());
    }
    text.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Outcome::read;
}

bool is_release(std::string_view release) {
    return !release.empty() && release.find('/') == std::string_view::npos && release != "." &&
           release != "..";
}

}  // namespace

Result<ModprobeConfig> read_modprobe_config(const SystemRoot& root, std::string_view release) {
    ModprobeConfig config;
    // By file name, and for each name the files that have it, in the folders' order.
    std::map<std::string, std::vector<Candidate>> by_name;
    if (is_release(release)) {
        by_name["modules.softdep"].push_back(
            Candidate{root.path("/lib/modules/" + std::string(release) + "/modules.softdep"),
                      ConfigSource::modules_softdep});
    }
    for (const char* folder : kFolders) {
        if (auto r = list_folder(root.path(folder), by_name, config); !r) {
            return r.error();
        }
    }
    for (const auto& [name, candidates] : by_name) {
        for (const Candidate& candidate : candidates) {
            std::string text;
            auto outcome = read_file(candidate.path, candidate.source, text, config);
            if (!outcome) {
                return outcome.error();
            }
            if (candidate.source == ConfigSource::modules_softdep && *outcome == Outcome::read) {
                // The module folder is depmod's; whoever can write it can write the modules.
                // Asked only once the file is there: the folder is then there too, and a
                // failure to look at it is an error, not an absence.
                auto why = folder_distrust(candidate.path.parent_path());
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
    const std::filesystem::path cmdline = root.path("/proc/cmdline");
    std::string text;
    auto outcome = read_file(cmdline, ConfigSource::kernel_cmdline, text, config);
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
