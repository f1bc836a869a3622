// What a soft dependency's name stands for, as kmod looks it up.
#include "softdep_names.hpp"

#include <fnmatch.h>

#include <modload/names.hpp>

#include "module_aliases.hpp"

namespace modload::detail {

std::vector<std::string> SoftdepNames::resolve(const std::string& wanted, const Snapshot& loaded) {
    std::vector<std::string> modules;
    // As kmod looks a name up (kmod_module_new_from_lookup): the configuration's aliases, a
    // module of that name, modules.alias, and only then a module built in ("crc32" is built in
    // and an alias of crc32_pclmul and crc32_generic: kmod loads those).
    if (config_ != nullptr) {
        for (const ConfigAlias& alias : config_->aliases) {
            if (::fnmatch(alias.alias.c_str(), wanted.c_str(), 0) == 0) {
                modules.push_back(normalize_module_name(alias.module));
            }
        }
        if (!modules.empty()) {
            return modules;
        }
    }
    auto found = locator_.find(wanted);
    if ((found && *found) || loaded.find(wanted) != nullptr) {
        return {wanted};
    }
    if (!alias_text_) {
        // Unreadable, it names no module: the soft dependency is then said not to be found.
        auto text = system_.read_text_given(alias_file_.string());
        alias_text_ = text ? std::move(*text) : std::string();
    }
    // modules.alias keeps the module's spelling ("blake2b-256"); kmod compares the pattern with
    // its dashes made underscores, as the wanted name is.
    modules = modules_matching_alias(*alias_text_, wanted);
    if (modules.empty() && builtin_.contains(wanted)) {
        return {wanted};
    }
    return modules;
}

}  // namespace modload::detail
