// The one JSON writer of the tools (lsmod --json, insmod --json, rmmod --json): strings escaped
// as RFC 8259 asks, ", " between members and ": " after keys.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace modload::tools {

/// Appends `s` as a JSON string: quotes, backslashes and control characters escaped; other bytes
/// as they are (UTF-8 stays UTF-8).
void append_json_string(std::string& out, std::string_view s);

/// Appends `, "key": "value"`.
void append_json_key(std::string& out, std::string_view key, std::string_view value);

/// A JSON object written member by member, in the order given.
class JsonObject {
  public:
    JsonObject& string(std::string_view key, std::string_view value);
    JsonObject& number(std::string_view key, long long value);
    JsonObject& boolean(std::string_view key, bool value);
    JsonObject& null(std::string_view key);
    /// A value already written: an array or an object.
    JsonObject& raw(std::string_view key, std::string_view json);

    /// "{...}"
    std::string text() const { return "{" + members_ + "}"; }

  private:
    void key(std::string_view key);

    std::string members_;
};

/// "[a, b]" of values already written.
std::string json_array(const std::vector<std::string>& values);
/// "["a", "b"]"
std::string json_strings(const std::vector<std::string>& strings);

}  // namespace modload::tools
