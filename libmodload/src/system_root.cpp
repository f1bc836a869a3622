#include <modload/system_root.hpp>

namespace modload {

std::filesystem::path SystemRoot::path(std::string_view absolute) const {
    while (!absolute.empty() && absolute.front() == '/') {
        absolute.remove_prefix(1);
    }
    return root_ / absolute;
}

}  // namespace modload
