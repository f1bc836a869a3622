#include <modload/result.hpp>

#include <cstring>

namespace modload {

std::string Error::message() const {
    std::string text = std::strerror(code);
    if (!detail.empty()) {
        text += " (" + detail + ")";
    }
    return text;
}

Error make_error(int code, std::string detail) {
    return Error{code, std::move(detail)};
}

}  // namespace modload
