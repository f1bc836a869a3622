// depmod's binary indexes (modules.dep.bin, modules.alias.bin): the trie kmod looks names up in,
// so that a lookup reads a few pages of the file instead of parsing the whole text twin.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <modload/result.hpp>
#include <modload/system.hpp>

namespace modload::detail {

/// A mapped index file (read-only). Every offset and string in it is checked against its size,
/// so a truncated or hostile file fails a lookup (EINVAL) instead of reading past its end.
///
/// The format (kmod's libkmod-index.c; integers 32-bit big-endian): magic 0xB007F457, version
/// 0x0002xxxx, the root node's offset; a node offset carries flags in its high nibble (0x8: a
/// NUL-terminated prefix follows, 0x2: children `first`, `last` and last-first+1 child offsets,
/// 0x4: a value count, then per value a priority and a NUL-terminated string).
class ModuleIndex {
  public:
    ModuleIndex(ModuleIndex&& other) noexcept;
    ModuleIndex& operator=(ModuleIndex&& other) noexcept;
    ModuleIndex(const ModuleIndex&) = delete;
    ModuleIndex& operator=(const ModuleIndex&) = delete;
    ~ModuleIndex();

    /// Maps `path` (as given), opened through `system`: the error of opening it (ENOENT when it
    /// is not there), EINVAL when it is not an index of a version this reader knows.
    static Result<ModuleIndex> open(System& system, const std::filesystem::path& path);
    /// The same over bytes in memory (tests, fuzzing): `bytes` must outlive the index.
    static Result<ModuleIndex> over(std::string_view bytes);

    /// The value stored under exactly `key` with the lowest priority (the first of equals), as
    /// kmod's index_search() answers; nullopt when the key is not there. EINVAL when the path
    /// to it is malformed.
    Result<std::optional<std::string_view>> find(std::string_view key) const;

  private:
    ModuleIndex() = default;
    struct Node;
    Result<Node> node(std::uint32_t offset) const;
    Result<std::uint32_t> u32(std::size_t at) const;
    Result<std::string_view> string(std::size_t at) const;

    const char* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
    std::uint32_t root_ = 0;
};

}  // namespace modload::detail
