#include "json.hpp"

#include <cstdio>

namespace modload::tools {

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += c;
        }
    }
    out += '"';
}

void append_json_key(std::string& out, std::string_view key, std::string_view value) {
    out += ", \"";
    out += key;
    out += "\": ";
    append_json_string(out, value);
}

void JsonObject::key(std::string_view key) {
    if (!members_.empty()) {
        members_ += ", ";
    }
    append_json_string(members_, key);
    members_ += ": ";
}

JsonObject& JsonObject::string(std::string_view name, std::string_view value) {
    key(name);
    append_json_string(members_, value);
    return *this;
}

JsonObject& JsonObject::number(std::string_view name, long long value) {
    key(name);
    members_ += std::to_string(value);
    return *this;
}

JsonObject& JsonObject::boolean(std::string_view name, bool value) {
    key(name);
    members_ += value ? "true" : "false";
    return *this;
}

JsonObject& JsonObject::null(std::string_view name) {
    key(name);
    members_ += "null";
    return *this;
}

JsonObject& JsonObject::raw(std::string_view name, std::string_view json) {
    key(name);
    members_ += json;
    return *this;
}

std::string json_array(const std::vector<std::string>& values) {
    std::string out = "[";
    for (const std::string& value : values) {
        out += (&value == values.data() ? "" : ", ") + value;
    }
    return out + "]";
}

std::string json_strings(const std::vector<std::string>& strings) {
    std::vector<std::string> values;
    values.reserve(strings.size());
    for (const std::string& s : strings) {
        std::string value;
        append_json_string(value, s);
        values.push_back(std::move(value));
    }
    return json_array(values);
}

}  // namespace modload::tools
