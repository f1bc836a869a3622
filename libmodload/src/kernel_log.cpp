#include <modload/kernel_log.hpp>

#include <cerrno>

#include <fcntl.h>

namespace modload {

namespace {

// /dev/kmsg hands out one record per read(); a regular file (a test's log) hands out many.
// Either way a record is "prio,seq,usec,flags[,...];message\n", and lines that start with a
// space continue it with KEY=value pairs.
void append_records(std::string_view chunk, std::vector<std::string>& out) {
    while (!chunk.empty()) {
        const auto newline = chunk.find('\n');
        const std::string_view line = chunk.substr(0, newline);
        chunk.remove_prefix(newline == std::string_view::npos ? chunk.size() : newline + 1);
        if (line.empty() || line.front() == ' ') {
            continue;
        }
        const auto semicolon = line.find(';');
        if (semicolon == std::string_view::npos) {
            continue;
        }
        out.emplace_back(line.substr(semicolon + 1));
    }
}

}  // namespace

Result<KernelLog> KernelLog::open_at_end(System& system) {
    const auto path = system.path("/dev/kmsg");
    auto fd = system.open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
    if (!fd) {
        return make_error(fd.error().code, path.string());
    }
    if (auto r = system.seek_to_end(fd->get()); !r) {
        return make_error(r.error().code, path.string());
    }
    return KernelLog(system, std::move(*fd));
}

Result<std::vector<std::string>> KernelLog::read_new() {
    std::vector<std::string> messages;
    // A record is at most about 8 KiB (the kernel's CONSOLE_EXT_LOG_MAX); 16 KiB holds one whole.
    std::string buffer(16384, '\0');
    for (int records = 0; records < 10000; ++records) {
        const auto n = system_->read(fd_.get(), std::span<char>(buffer.data(), buffer.size()));
        if (n && *n > 0) {
            append_records(std::string_view(buffer.data(), *n), messages);
            continue;
        }
        const int code = n ? 0 : n.error().code;
        if (code == 0 || code == EAGAIN) {
            break;  // EAGAIN: no more records (non-blocking); 0: end of a regular file
        }
        if (code == EPIPE || code == EINTR) {
            continue;  // EPIPE: records were overwritten before we read them; go on after them
        }
        return make_error(code, "/dev/kmsg");
    }
    return messages;
}

std::vector<std::string> messages_about(std::span<const std::string> messages,
                                        std::string_view name) {
    // "name: ..." for most records; Linux 6.12 writes "module name: ..." for the layout checks.
    const std::string plain = std::string(name) + ": ";
    const std::string with_word = "module " + plain;
    std::vector<std::string> out;
    for (const std::string& m : messages) {
        if (m.rfind(plain, 0) == 0 || m.rfind(with_word, 0) == 0) {
            out.push_back(m);
        }
    }
    return out;
}

}  // namespace modload
