// The kernel log: records in /dev/kmsg's format, read from a scratch root, then the messages
// about a module picked out of them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <modload/kernel_log.hpp>
#include <modload/system.hpp>

#include "check.hpp"

using modload::fuzz::require;

namespace {

const modload::fuzz::ScratchRoot& scratch() {
    static const modload::fuzz::ScratchRoot root;
    return root;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The log is opened at its end first, and the records appear after: what read_new() sees.
    scratch().write("/dev/kmsg", nullptr, 0);
    static const auto kernel = modload::make_system_kernel();  // never called
    const auto system =
        modload::make_rooted_system(scratch().path(), *kernel, modload::system_clock());
    modload::System& root = *system;
    auto log = modload::KernelLog::open_at_end(root);
    require(log.has_value(), "an existing log opens");
    scratch().write("/dev/kmsg", data, size);
    auto messages = log->read_new();
    require(messages.has_value(), "a readable log is read");
    require(messages->size() <= size, "no more messages than bytes");

    std::vector<std::string> names{"lab_consumer", "", "module"};
    for (const std::string& m : *messages) {
        require(m.find('\n') == std::string::npos, "a message is one line");
        std::string_view text = m;
        if (starts_with(text, "module ")) {
            text.remove_prefix(7);
        }
        const auto colon = text.find(": ");
        if (colon != std::string_view::npos && names.size() < 8) {
            names.emplace_back(text.substr(0, colon));
        }
    }
    for (const std::string& name : names) {
        const std::vector<std::string> about = modload::messages_about(*messages, name);
        require(about.size() <= messages->size(), "messages_about picks among the messages");
        for (const std::string& m : about) {
            require(starts_with(m, name + ": ") || starts_with(m, "module " + name + ": "),
                    "messages_about picks messages that name the module");
        }
    }
    return 0;
}
