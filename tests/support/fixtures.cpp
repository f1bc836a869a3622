#include "fixtures.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "tool.hpp"

namespace modload::testing {

std::string fixture_module(const std::string& file) {
    return std::string(FIXTURE_BUILD_DIR) + "/" + file;
}

std::filesystem::path fixture_root(const std::string& name) {
    return std::filesystem::path(FIXTURE_SOURCE_DIR) / "roots" / name;
}

std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string());
    }
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto* begin = reinterpret_cast<const std::byte*>(data.data());
    return {begin, begin + data.size()};
}

void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

std::string read_text(const std::filesystem::path& path) {
    const auto bytes = read_bytes(path);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void write_text(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path);
    out << text;
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

ScratchDir::ScratchDir() : ScratchDir(std::filesystem::path()) {}

ScratchDir::ScratchDir(const std::filesystem::path& parent) {
    const std::filesystem::path folder =
        parent.empty() ? std::filesystem::temp_directory_path() : parent;
    std::string pattern = (folder / "modload-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
}

ScratchDir::~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::filesystem::path copy_fixture_root(const std::string& name, const ScratchDir& dir) {
    const std::filesystem::path copy = dir / name;
    std::filesystem::copy(fixture_root(name), copy, std::filesystem::copy_options::recursive);
    return copy;
}

FixtureSystem::FixtureSystem(std::filesystem::path root, Kernel* kernel, Clock* clock) {
    if (kernel == nullptr) {
        own_kernel_ = std::make_unique<FakeKernel>();
        kernel = own_kernel_.get();
    }
    system_ =
        make_rooted_system(std::move(root), *kernel, clock != nullptr ? *clock : system_clock());
}

ToolRun run_tool(const std::string& tool, Kernel& kernel, const std::filesystem::path& root,
                 const std::vector<std::string>& args, const std::string& release, int stdin_fd,
                 Clock* clock, bool out_is_terminal) {
    const FixtureSystem system(root, &kernel, clock);
    return run_tool(tool, *system, args, release, stdin_fd, out_is_terminal);
}

ToolRun run_tool(const std::string& tool, System& system, const std::vector<std::string>& args,
                 const std::string& release, int stdin_fd, bool out_is_terminal) {
    tools::clear_stop_signal();
    std::ostringstream out;
    std::ostringstream err;
    tools::ToolContext ctx{system, release, out, err, stdin_fd, out_is_terminal};
    std::vector<std::string> words{tool};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) {
        argv.push_back(w.data());
    }
    argv.push_back(nullptr);
    const int argc = static_cast<int>(words.size());
    int status = -1;
    if (tool == "insmod") {
        status = tools::run_insmod(ctx, argc, argv.data());
    } else if (tool == "rmmod") {
        status = tools::run_rmmod(ctx, argc, argv.data());
    } else if (tool == "lsmod") {
        status = tools::run_lsmod(ctx, argc, argv.data());
    } else {
        throw std::invalid_argument("no tool " + tool);
    }
    return ToolRun{status, out.str(), err.str()};
}

}  // namespace modload::testing
