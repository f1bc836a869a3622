// A small JSON reader for tests that check the tools' --json output by its fields, not its text.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace modload::testing {

/// One JSON value. Numbers are kept as double (the tools write integers only).
class JsonValue {
  public:
    using Array = std::vector<JsonValue>;
    using Object = std::map<std::string, JsonValue>;

    /// The value `text` holds, whole; nullopt (and `error` set) when it is not valid JSON.
    static std::optional<JsonValue> parse(std::string_view text, std::string* error = nullptr);

    bool is_null() const { return std::holds_alternative<std::monostate>(value_); }
    bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(value_); }
    bool is_array() const { return std::holds_alternative<std::shared_ptr<Array>>(value_); }
    bool is_string() const { return std::holds_alternative<std::string>(value_); }

    /// These throw std::bad_variant_access on another type, which fails the test that asks.
    const std::string& str() const { return std::get<std::string>(value_); }
    double number() const { return std::get<double>(value_); }
    bool boolean() const { return std::get<bool>(value_); }
    const Array& array() const { return *std::get<std::shared_ptr<Array>>(value_); }
    const Object& object() const { return *std::get<std::shared_ptr<Object>>(value_); }
    /// A member of an object; throws std::out_of_range when it has none of that name.
    const JsonValue& operator[](const std::string& key) const { return object().at(key); }
    bool has(const std::string& key) const { return is_object() && object().count(key) != 0; }
    /// The strings of an array of strings.
    std::vector<std::string> strings() const;

  private:
    friend class JsonParser;
    std::variant<std::monostate, bool, double, std::string, std::shared_ptr<Array>,
                 std::shared_ptr<Object>>
        value_;
};

}  // namespace modload::testing
