#include "module_index.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>

#include <modload/unique_fd.hpp>

namespace modload::detail {

namespace {

constexpr std::uint32_t kMagic = 0xB007F457;
constexpr std::uint32_t kVersionMajor = 0x0002;
constexpr std::uint32_t kHasPrefix = 0x80000000;
constexpr std::uint32_t kHasValues = 0x40000000;
constexpr std::uint32_t kHasChildren = 0x20000000;
constexpr std::uint32_t kOffsetMask = 0x0FFFFFFF;
// The largest index mapped: modules.alias.bin of a distribution kernel is a few MiB.
constexpr std::size_t kMaxIndexSize = std::size_t{256} << 20;

Error malformed(std::string_view what) {
    return make_error(EINVAL, "malformed index: " + std::string(what));
}

}  // namespace

struct ModuleIndex::Node {
    std::string_view prefix;
    unsigned char first = 1, last = 0;  // no children when first > last
    std::size_t children = 0;           // offset of the child offsets
    std::uint32_t value_count = 0;
    std::size_t values = 0;  // offset of the first value
};

ModuleIndex::ModuleIndex(ModuleIndex&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, false)),
      root_(other.root_) {}

ModuleIndex& ModuleIndex::operator=(ModuleIndex&& other) noexcept {
    ModuleIndex taken(std::move(other));
    std::swap(data_, taken.data_);
    std::swap(size_, taken.size_);
    std::swap(mapped_, taken.mapped_);
    std::swap(root_, taken.root_);
    return *this;
}

ModuleIndex::~ModuleIndex() {
    if (mapped_ && size_ != 0) {
        (void)::munmap(const_cast<char*>(data_), size_);
    }
}

Result<ModuleIndex> ModuleIndex::open(System& system, const std::filesystem::path& path) {
    auto fd = system.open_given(path.string(), O_RDONLY);
    if (!fd) {
        return make_error(fd.error().code, path.string());
    }
    auto st = system.fstat(fd->get());
    if (!st) {
        return make_error(st.error().code, path.string());
    }
    if (st->type != FileType::regular) {
        return make_error(EINVAL, path.string() + ": not a regular file");
    }
    const auto size = static_cast<std::size_t>(st->size);
    if (size < 12 || size > kMaxIndexSize) {
        return make_error(EINVAL, path.string() + ": not an index (size)");
    }
    // Mapped, not read: a lookup touches a few pages of it (as kmod's index_mm does). The one
    // system call outside system.cpp, and on purpose: the descriptor was opened and looked at
    // through the System (so a test's root and fault injection see it), and a System has no call
    // that maps; reading the whole file instead would undo what the index is for.
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd->get(), 0);
    if (map == MAP_FAILED) {
        return make_error(errno, path.string());
    }
    ModuleIndex index;
    index.data_ = static_cast<const char*>(map);
    index.size_ = size;
    index.mapped_ = true;
    if (auto header = index.u32(0); !header || *header != kMagic) {
        return make_error(EINVAL, path.string() + ": not an index (magic)");
    }
    if (auto version = index.u32(4); !version || (*version >> 16) != kVersionMajor) {
        return make_error(EINVAL, path.string() + ": index version not known");
    }
    index.root_ = *index.u32(8);
    return index;
}

Result<ModuleIndex> ModuleIndex::over(std::string_view bytes) {
    ModuleIndex index;
    index.data_ = bytes.data();
    index.size_ = bytes.size();
    if (auto header = index.u32(0); !header || *header != kMagic) {
        return make_error(EINVAL, "not an index (magic)");
    }
    if (auto version = index.u32(4); !version || (*version >> 16) != kVersionMajor) {
        return make_error(EINVAL, "index version not known");
    }
    auto root = index.u32(8);
    if (!root) {
        return make_error(EINVAL, "not an index (size)");
    }
    index.root_ = *root;
    return index;
}

Result<std::uint32_t> ModuleIndex::u32(std::size_t at) const {
    if (at > size_ || size_ - at < 4) {
        return malformed("offset past the end");
    }
    const auto* p = reinterpret_cast<const unsigned char*>(data_ + at);
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

Result<std::string_view> ModuleIndex::string(std::size_t at) const {
    if (at >= size_) {
        return malformed("string past the end");
    }
    const void* end = std::memchr(data_ + at, '\0', size_ - at);
    if (end == nullptr) {
        return malformed("string not terminated");
    }
    return std::string_view(data_ + at, static_cast<const char*>(end) - (data_ + at));
}

Result<ModuleIndex::Node> ModuleIndex::node(std::uint32_t offset) const {
    Node node;
    std::size_t at = offset & kOffsetMask;
    // Offset 0 is the header: no node is there.
    if (at < 12) {
        return malformed("node offset in the header");
    }
    if ((offset & kHasPrefix) != 0) {
        auto prefix = string(at);
        if (!prefix) {
            return prefix.error();
        }
        node.prefix = *prefix;
        at += prefix->size() + 1;
    }
    if ((offset & kHasChildren) != 0) {
        if (at > size_ || size_ - at < 2) {
            return malformed("children past the end");
        }
        node.first = static_cast<unsigned char>(data_[at]);
        node.last = static_cast<unsigned char>(data_[at + 1]);
        if (node.first > node.last) {
            return malformed("child range");
        }
        node.children = at + 2;
        at = node.children + 4 * (std::size_t{node.last} - node.first + 1);
        if (at > size_) {
            return malformed("children past the end");
        }
    }
    if ((offset & kHasValues) != 0) {
        auto count = u32(at);
        if (!count) {
            return count.error();
        }
        node.value_count = *count;
        node.values = at + 4;
    }
    return node;
}

Result<std::optional<std::string_view>> ModuleIndex::find(std::string_view key) const {
    std::uint32_t offset = root_;
    std::size_t i = 0;
    // Each step consumes at least one character of the key: the walk ends.
    for (;;) {
        auto read = node(offset);
        if (!read) {
            return read.error();
        }
        const Node& n = *read;
        if (key.substr(i, n.prefix.size()) != n.prefix) {
            return std::optional<std::string_view>();
        }
        i += n.prefix.size();
        if (i == key.size()) {
            std::optional<std::string_view> best;
            std::uint32_t best_priority = 0;
            std::size_t at = n.values;
            for (std::uint32_t v = 0; v < n.value_count; ++v) {
                auto priority = u32(at);
                if (!priority) {
                    return priority.error();
                }
                auto value = string(at + 4);
                if (!value) {
                    return value.error();
                }
                if (!best || *priority < best_priority) {
                    best = *value;
                    best_priority = *priority;
                }
                at += 4 + value->size() + 1;
            }
            return best;
        }
        const auto c = static_cast<unsigned char>(key[i]);
        if (n.first > n.last || c < n.first || c > n.last) {
            return std::optional<std::string_view>();
        }
        auto child = u32(n.children + 4 * (std::size_t{c} - n.first));
        if (!child) {
            return child.error();
        }
        if ((*child & kOffsetMask) == 0) {
            return std::optional<std::string_view>();
        }
        offset = *child;
        ++i;
    }
}

}  // namespace modload::detail
