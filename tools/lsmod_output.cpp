// lsmod's outputs: kmod's table, the tree, and the JSON of --json and --refs --json.
#include "lsmod_output.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "json.hpp"
#include "words.hpp"

namespace modload::tools {

namespace {

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

}  // namespace

std::string table(const Modules& modules) {
    std::string out = "Module                  Size  Used by\n";
    out.reserve(out.size() + modules.size() * 48);
    for (const LoadedModule* m : modules) {
        append_row(out, *m);
    }
    return out;
}

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

std::string refs_json(const ReferenceReport& report, const std::vector<UnreadSource>& unread) {
    std::string out = "{\"files\": ";
    append_json_string(out, file_scan_name(report.files));
    append_json_key(out, "why_not_bpf", report.why_not_bpf);
    out += ", \"unread\": [";
    for (std::size_t i = 0; i < unread.size(); ++i) {
        out += i == 0 ? "{\"path\": " : ", {\"path\": ";
        append_json_string(out, unread[i].path.string());
        append_json_key(out, "error", std::strerror(unread[i].error.code));
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
            if (ref.kind == ReferenceKind::open_file || !ref.users.empty()) {
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
            if (!ref.release_command.empty()) {
                append_json_key(out, "release_command", ref.release_command);
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

namespace {

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

}  // namespace

std::string tree(const Snapshot& snapshot, const Modules& roots, bool boxes) {
    return TreeWriter(snapshot, boxes).write(roots);
}

bool sort_modules(Modules& modules, const std::string& key) {
    // Names ascending; sizes and refcounts largest first, ties by name.
    const auto by_name = [](const LoadedModule* a, const LoadedModule* b) {
        return a->name < b->name;
    };
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

}  // namespace modload::tools
