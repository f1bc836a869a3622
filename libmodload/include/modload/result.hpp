// Errors as values: a small Result<T> shaped like C++23's std::expected, so that moving to it later
// is a rename (has_value, value, error, operator*, operator->, value_or).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <modload/export.hpp>

namespace modload {

/// What went wrong: an errno value, as the kernel and libc report it, and a short detail that says
/// where or why ("not an ELF file", "/proc/modules line 3"). The tools choose the final words.
struct MODLOAD_API Error {
    int code = 0;
    std::string detail;

    /// strerror(code), followed by " (detail)" when there is a detail.
    [[nodiscard]] std::string message() const;
};

/// Makes an Error; `detail` may be empty.
[[nodiscard]] MODLOAD_API Error make_error(int code, std::string detail = {});

/// Either a T or an Error.
template <class T>
class [[nodiscard]] MODLOAD_API Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const Error& error() const { return std::get<1>(v_); }

    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    template <class U>
    T value_or(U&& fallback) const& {
        return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
    }

  private:
    std::variant<T, Error> v_;
};

/// A result that carries no value.
template <>
class [[nodiscard]] MODLOAD_API Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const { return !error_.has_value(); }
    explicit operator bool() const { return has_value(); }
    const Error& error() const { return *error_; }

  private:
    std::optional<Error> error_;
};

}  // namespace modload
