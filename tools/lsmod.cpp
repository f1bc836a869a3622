// lsmod: the loaded modules, from one read of /proc/modules.
//
// kmod's lsmod reads /sys/module/NAME/{refcnt,holders,...} for every module; a module that goes
// away between those reads shows up with nonsense (negative) numbers. One read of /proc/modules is
// a consistent picture and much cheaper. The default output is kmod's, byte for byte; --json,
// --tree, --sort and module names are for scripts and people.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <modload/names.hpp>
#include <modload/references.hpp>
#include <modload/snapshot.hpp>

#include "lsmod_trace.hpp"
#include "tool.hpp"

namespace modload::tools {

namespace {

using Modules = std::vector<const LoadedModule*>;

// kmod's layout, "%-19s %8ld  %d" and the holders after a space, comma-separated.
void append_row(std::string& out, const LoadedModule& m) {
    char row[128];
    const int n = std::snprintf(row, sizeof row, "%-19s %8" PRIu64 "  ", m.name.c_str(), m.size);
    out.append(row, static_cast<std::size_t>(n > 0 ? n : 0));
    out += m.refcount ? std::to_string(*m.refcount) : "-";
    for (std::size_t i = 0; i < m.holders.size(); ++i) {
        out += i == 0 ? ' ' : ',';
        out += m.holders[i];
    }
    out += '\n';
}

std::string table(const Modules& modules) {
    std::string out = "Module                  Size  Used by\n";
    out.reserve(out.size() + modules.size() * 48);
    for (const LoadedModule* m : modules) {
        append_row(out, *m);
    }
    return out;
}

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

// The keys are documented in lsmod.8 and stable: scripts depend on them.
std::string json(const Modules& modules) {
    std::string out = "[";
    for (std::size_t i = 0; i < modules.size(); ++i) {
        const LoadedModule& m = *modules[i];
        out += i == 0 ? "\n  {" : ",\n  {";
        out += "\"name\": ";
        append_json_string(out, m.name);
        out += ", \"size\": " + std::to_string(m.size);
        out += ", \"refcount\": " + (m.refcount ? std::to_string(*m.refcount) : "null");
        out += ", \"holders\": [";
        for (std::size_t h = 0; h < m.holders.size(); ++h) {
            out += h == 0 ? "" : ", ";
            append_json_string(out, m.holders[h]);
        }
        out += "], \"state\": ";
        append_json_string(out, module_state_name(m.state));
        out += ", \"taints\": ";
        append_json_string(out, m.taints);
        out += ", \"permanent\": ";
        out += m.permanent ? "true" : "false";
        out += "}";
    }
    out += modules.empty() ? "]\n" : "\n]\n";
    return out;
}

void append_json_key(std::string& out, std::string_view key, std::string_view value) {
    out += ", \"";
    out += key;
    out += "\": ";
    append_json_string(out, value);
}

std::string_view file_scan_name(FileScan scan) {
    return scan == FileScan::bpf ? "bpf" : scan == FileScan::proc ? "proc" : "none";
}

// --refs --json: the keys are documented in lsmod.8.
std::string refs_json(const ReferenceReport& report, const std::vector<Error>& unread) {
    std::string out = "{\"files\": ";
    append_json_string(out, file_scan_name(report.files));
    append_json_key(out, "why_not_bpf", report.why_not_bpf);
    out += ", \"unread\": [";
    for (std::size_t i = 0; i < unread.size(); ++i) {
        out += i == 0 ? "{\"path\": " : ", {\"path\": ";
        append_json_string(out, unread[i].detail);
        append_json_key(out, "error", std::strerror(unread[i].code));
        out += "}";
    }
    out += "]";
    out += ", \"modules\": [";
    for (std::size_t i = 0; i < report.modules.size(); ++i) {
        const ModuleReferences& m = report.modules[i];
        out += i == 0 ? "\n  {\"name\": " : ",\n  {\"name\": ";
        append_json_string(out, m.module);
        out += ", \"refcount\": " + (m.refcount ? std::to_string(*m.refcount) : "null");
        out += ", \"unattributed\": " + std::to_string(m.unattributed);
        out += ", \"changed_while_read\": ";
        out += m.changed_while_read ? "true" : "false";
        out += ", \"references\": [";
        for (std::size_t r = 0; r < m.references.size(); ++r) {
            const Reference& ref = m.references[r];
            out += r == 0 ? "\n    {\"kind\": " : ",\n    {\"kind\": ";
            append_json_string(out, reference_kind_name(ref.kind));
            out += ", \"count\": " + std::to_string(ref.count);
            out += ", \"approximate\": ";
            out += ref.approximate ? "true" : "false";
            append_json_key(out, "via", hold_via_name(ref.via));
            append_json_key(out, "name", ref.name);
            if (ref.kind == ReferenceKind::open_file) {
                out += ", \"users\": [";
                for (std::size_t u = 0; u < ref.users.size(); ++u) {
                    out += u == 0 ? "{\"pid\": " : ", {\"pid\": ";
                    out += std::to_string(ref.users[u].pid);
                    append_json_key(out, "command", ref.users[u].command);
                    out += ", \"fd\": " + std::to_string(ref.users[u].fd) + "}";
                }
                out += "]";
            }
            if (ref.kind == ReferenceKind::mount) {
                append_json_key(out, "fstype", ref.fstype);
            }
            if (!ref.source.empty()) {
                append_json_key(out, "source", ref.source);
            }
            out += "}";
        }
        out += m.references.empty() ? "]}" : "\n  ]}";
    }
    out += report.modules.empty() ? "]}\n" : "\n]}\n";
    return out;
}

std::string refs_text(const ReferenceReport& report) {
    std::string out;
    for (const ModuleReferences& m : report.modules) {
        out += m.module + ": refcount " + (m.refcount ? std::to_string(*m.refcount) : "-") + "\n";
        for (const std::string& line : reference_lines(m)) {
            out += "  " + line + "\n";
        }
    }
    return out;
}

class TreeWriter {
public:
    TreeWriter(const Snapshot& snapshot, bool boxes) : boxes_(boxes) {
        // What each module uses: the modules that list it as a holder.
        for (const LoadedModule& m : snapshot.modules()) {
            for (const std::string& holder : m.holders) {
                uses_[holder].push_back(&m);
            }
        }
    }

    std::string write(const Modules& roots) {
        for (const LoadedModule* m : roots) {
            std::vector<std::string> path;
            node(*m, "", "", path);
        }
        return std::move(out_);
    }

private:
    void node(const LoadedModule& m, const std::string& lead, const std::string& child_lead,
              std::vector<std::string>& path) {
        out_ += lead + m.name;
        if (const int outside = m.external_references(); outside > 0) {
            out_ += " [" + std::to_string(outside) + (outside == 1 ? " reference" : " references") +
                    " from outside modules]";
        }
        if (std::find(path.begin(), path.end(), m.name) != path.end()) {
            out_ += " [cycle]\n";  // only a corrupt /proc/modules gets here
            return;
        }
        out_ += '\n';
        const auto it = uses_.find(m.name);
        if (it == uses_.end()) {
            return;
        }
        path.push_back(m.name);
        const Modules& children = it->second;
        for (std::size_t i = 0; i < children.size(); ++i) {
            const bool last = i + 1 == children.size();
            const char* branch = boxes_ ? (last ? "└── " : "├── ") : (last ? "`-- " : "|-- ");
            const char* stem = boxes_ ? (last ? "    " : "│   ") : (last ? "    " : "|   ");
            node(*children[i], child_lead + branch, child_lead + stem, path);
        }
        path.pop_back();
    }

    bool boxes_;
    std::map<std::string, Modules> uses_;
    std::string out_;
};

bool sort_modules(Modules& modules, const std::string& key) {
    // Names ascending; sizes and refcounts largest first, ties by name.
    const auto by_name = [](const LoadedModule* a, const LoadedModule* b) { return a->name < b->name; };
    if (key == "name") {
        std::stable_sort(modules.begin(), modules.end(), by_name);
    } else if (key == "size") {
        std::stable_sort(modules.begin(), modules.end(), [&](auto* a, auto* b) {
            return a->size != b->size ? a->size > b->size : by_name(a, b);
        });
    } else if (key == "refcount") {
        std::stable_sort(modules.begin(), modules.end(), [&](auto* a, auto* b) {
            const int ra = a->refcount.value_or(-1);
            const int rb = b->refcount.value_or(-1);
            return ra != rb ? ra > rb : by_name(a, b);
        });
    } else {
        return false;
    }
    return true;
}

}  // namespace

int run_lsmod(ToolContext& ctx, int argc, char** argv) {
    Reporter report("lsmod", ctx.err);
    CLI::App app("Show the modules loaded in the Linux kernel.", "lsmod");
    bool as_json = false;
    bool as_tree = false;
    bool refs = false;
    bool trace = false;
    std::string sort_key;
    std::vector<std::string> wanted;
    app.add_flag("-j,--json", as_json, "print a JSON array, one object per module");
    app.add_flag("-t,--tree", as_tree, "show which module uses which, as a tree");
    app.add_option("-s,--sort", sort_key, "sort by name, size or refcount")
        ->check(CLI::IsMember({"name", "size", "refcount"}));
    app.add_flag("-r,--refs", refs, "name who holds each MODULE's references");
    app.add_flag("--trace", trace,
                 "follow each MODULE's reference gets and puts live, until Ctrl-C");
    app.add_option("MODULE", wanted, "show only these modules; exit 1 if one is not loaded");
    CommonFlags common;
    add_common_flags(app, common, false);
    if (const int status = parse_command_line(app, argc, argv, ctx, report, common); status >= 0) {
        return status;
    }
    if (as_json && as_tree) {
        report.error("--json and --tree do not go together");
        return 1;
    }
    if ((refs || trace) && (as_tree || !sort_key.empty() || (refs && trace))) {
        report.error("--refs and --trace go with module names only (and --refs with --json)");
        return 1;
    }
    if ((refs || trace) && wanted.empty()) {
        report.error(std::string(refs ? "--refs" : "--trace") + " needs the names of modules");
        return 1;
    }
    if (trace) {
        return run_lsmod_trace(ctx, report, wanted);
    }

    auto snapshot = Snapshot::read(ctx.system);
    if (!snapshot) {
        report.error(snapshot_error_text(snapshot.error()));
        return 1;
    }
    report_skipped_lines(report, snapshot->skipped());
    Modules modules;
    int status = 0;
    if (wanted.empty()) {
        modules.reserve(snapshot->modules().size());
        for (const LoadedModule& m : snapshot->modules()) {
            // --tree starts from the modules nothing else holds; the rest hang below them.
            if (!as_tree || m.holders.empty()) {
                modules.push_back(&m);
            }
        }
    } else {
        std::set<std::string> seen;
        for (const std::string& argument : wanted) {
            const std::string name = module_name_from_argument(argument);
            const LoadedModule* m = snapshot->find(name);
            if (m == nullptr) {
                report.error("Module " + name + " is not currently loaded");
                status = 1;
            } else if (seen.insert(name).second) {
                modules.push_back(m);
            }
        }
    }
    if (!sort_key.empty()) {
        (void)sort_modules(modules, sort_key);  // CLI11 checked the key
    }

    std::string out;
    if (refs && modules.empty()) {
        // every module named is missing, and said so
    } else if (refs) {
        std::vector<std::string> names;
        for (const LoadedModule* m : modules) {
            names.push_back(m->name);
        }
        std::vector<Error> unread;
        const ReferenceReport found =
            find_references(ctx, report, *snapshot, names, false, &unread);
        out = as_json ? refs_json(found, unread) : refs_text(found);
    } else if (as_json) {
        out = json(modules);
    } else if (as_tree) {
        out = TreeWriter(*snapshot, ctx.out_is_terminal).write(modules);
    } else {
        out = table(modules);
    }
    ctx.out.write(out.data(), static_cast<std::streamsize>(out.size()));
    ctx.out.flush();
    return ctx.out ? status : 1;
}

}  // namespace modload::tools
