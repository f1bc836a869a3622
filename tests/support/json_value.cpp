#include "json_value.hpp"

#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace modload::testing {

class JsonParser {
  public:
    explicit JsonParser(std::string_view text) : text_(text) {}

    JsonValue document() {
        JsonValue value = parse_value();
        skip_space();
        if (at_ < text_.size()) {
            fail("text after the value");
        }
        return value;
    }

  private:
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error(what + " at offset " + std::to_string(at_));
    }
    void skip_space() {
        while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) {
            ++at_;
        }
    }
    char peek() {
        skip_space();
        if (at_ >= text_.size()) {
            fail("unexpected end");
        }
        return text_[at_];
    }
    void expect(char c) {
        if (peek() != c) {
            fail(std::string("expected '") + c + "'");
        }
        ++at_;
    }
    bool literal(std::string_view word) {
        if (text_.substr(at_, word.size()) == word) {
            at_ += word.size();
            return true;
        }
        return false;
    }

    std::string parse_string() {
        expect('"');
        std::string out;
        while (at_ < text_.size() && text_[at_] != '"') {
            char c = text_[at_++];
            if (static_cast<unsigned char>(c) < 0x20) {
                fail("control character in a string");
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= text_.size()) {
                fail("unexpected end");
            }
            c = text_[at_++];
            switch (c) {
                case '"':
                case '\\':
                case '/':
                    out += c;
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'u': {
                    if (at_ + 4 > text_.size()) {
                        fail("short \\u escape");
                    }
                    const long code =
                        std::strtol(std::string(text_.substr(at_, 4)).c_str(), nullptr, 16);
                    at_ += 4;
                    if (code >= 0x80) {
                        fail("\\u escape past ASCII (not written by the tools)");
                    }
                    out += static_cast<char>(code);
                    break;
                }
                default:
                    fail("bad escape");
            }
        }
        if (at_ >= text_.size()) {
            fail("unterminated string");
        }
        ++at_;
        return out;
    }

    JsonValue parse_value() {
        JsonValue value;
        const char c = peek();
        if (c == '{') {
            ++at_;
            auto object = std::make_shared<JsonValue::Object>();
            if (peek() != '}') {
                for (;;) {
                    std::string key = parse_string();
                    expect(':');
                    if (!object->emplace(key, parse_value()).second) {
                        fail("duplicate key " + key);
                    }
                    if (peek() == ',') {
                        ++at_;
                        continue;
                    }
                    break;
                }
            }
            expect('}');
            value.value_ = object;
        } else if (c == '[') {
            ++at_;
            auto array = std::make_shared<JsonValue::Array>();
            if (peek() != ']') {
                for (;;) {
                    array->push_back(parse_value());
                    if (peek() == ',') {
                        ++at_;
                        continue;
                    }
                    break;
                }
            }
            expect(']');
            value.value_ = array;
        } else if (c == '"') {
            value.value_ = parse_string();
        } else if (literal("true")) {
            value.value_ = true;
        } else if (literal("false")) {
            value.value_ = false;
        } else if (literal("null")) {
            value.value_ = std::monostate{};
        } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
            const std::string rest(text_.substr(at_, 64));
            char* end = nullptr;
            value.value_ = std::strtod(rest.c_str(), &end);
            at_ += static_cast<std::size_t>(end - rest.c_str());
        } else {
            fail("not a JSON value");
        }
        return value;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

std::optional<JsonValue> JsonValue::parse(std::string_view text, std::string* error) {
    try {
        return JsonParser(text).document();
    } catch (const std::runtime_error& e) {
        if (error != nullptr) {
            *error = e.what();
        }
        return std::nullopt;
    }
}

std::vector<std::string> JsonValue::strings() const {
    std::vector<std::string> out;
    for (const JsonValue& v : array()) {
        out.push_back(v.str());
    }
    return out;
}

}  // namespace modload::testing
