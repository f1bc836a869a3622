// The kernel's answers about who holds a module, as a hostile or broken kernel (or a recording)
// might give them: netlink messages and attributes, nf_tables dumps, an x_tables table, and the
// rtnetlink (tc) and sock_diag dumps. The first byte chooses the reader; the rest is split into
// answers, each a 2-byte little-endian length and that many bytes (fewer at the end).
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <sys/socket.h>

#include <modload/clock.hpp>
#include <modload/kernel.hpp>
#include <modload/system.hpp>

#include "check.hpp"
#include "netlink.hpp"
#include "open_files.hpp"
#include "refs_netfilter.hpp"
#include "refs_sources.hpp"
#include "refs_tc.hpp"

using modload::fuzz::require;
using Bytes = std::span<const std::byte>;

namespace {

// Each a module that names (or an alias that gives) what the readers look up.
constexpr const char* kAliases =
    "alias nft-expr-ct nft_ct\n"
    "alias nft-expr-2-nat nft_nat\n"
    "alias nft-chain-2-nat nft_chain_nat\n"
    "alias nft-obj-* nft_objects\n"
    "alias nf-flowtable-1 nf_flow_table_inet\n"
    "alias ipt_conntrack xt_conntrack\n"
    "alias ipt_* xt_any\n"
    "alias ip6t_REJECT ip6t_REJECT\n"
    "alias xt_LOG xt_LOG\n"
    "alias tcp-ulp-tls tls\n";

const modload::detail::ProvidedAliases& aliases() {
    static const auto parsed = modload::detail::ProvidedAliases::parse(kAliases);
    return parsed;
}

bool within(Bytes inner, Bytes outer) {
    return inner.empty() || (inner.data() >= outer.data() &&
                             inner.data() + inner.size() <= outer.data() + outer.size());
}

// The next answer of the input.
class Answers {
  public:
    explicit Answers(Bytes rest) : rest_(rest) {}
    bool empty() const { return rest_.empty(); }
    Bytes next() {
        std::size_t size = rest_.size();
        if (rest_.size() >= 2) {
            size = std::to_integer<std::size_t>(rest_[0]) | std::to_integer<std::size_t>(rest_[1])
                                                                << 8;
            rest_ = rest_.subspan(2);
            size = std::min(size, rest_.size());
        }
        const Bytes answer = rest_.first(size);
        rest_ = rest_.subspan(size);
        return answer;
    }

  private:
    Bytes rest_;
};

// Attributes, and what they nest, `depth` levels down: every payload within its attribute's bytes.
void walk_attributes(Bytes bytes, int depth) {
    auto attributes = modload::detail::netlink_attributes(bytes);
    if (!attributes) {
        require(attributes.error().code == EBADMSG, "broken attributes are EBADMSG");
        return;
    }
    for (const auto& attribute : *attributes) {
        require(within(attribute.payload, bytes), "an attribute's payload is within its bytes");
        if (depth > 0) {
            walk_attributes(attribute.payload, depth - 1);
        }
    }
}

void messages(Bytes answer) {
    auto found = modload::detail::netlink_messages(answer);
    if (!found) {
        require(found.error().code != 0, "an unreadable answer has an errno");
        return;
    }
    for (const auto& message : *found) {
        require(within(message.payload, answer), "a message's payload is within the answer");
        // the attributes after a fixed header of 0, 4 (nfgenmsg) or 16 bytes (ifinfomsg)
        for (const std::size_t header : {0, 4, 16}) {
            if (message.payload.size() >= header) {
                walk_attributes(message.payload.subspan(header), 3);
            }
        }
    }
}

void holds_are_named(const std::vector<modload::detail::FirewallHold>& holds) {
    for (const auto& hold : holds) {
        require(!hold.module.empty(), "a firewall hold names a module");
        require(!hold.reference.name.empty(), "a firewall hold names what holds it");
    }
}

void nftables(Bytes rest) {
    Answers answers(rest);
    modload::detail::NftablesAnswers dumps;
    dumps.rules = answers.next();
    dumps.chains = answers.next();
    dumps.sets = answers.next();
    dumps.objects = answers.next();
    dumps.flowtables = answers.next();
    auto holds = modload::detail::parse_nftables(dumps, aliases());
    if (holds) {
        holds_are_named(*holds);
    }
}

void xtables(Bytes rest) {
    if (rest.empty()) {
        return;
    }
    const int family = (std::to_integer<unsigned>(rest[0]) & 1) != 0 ? AF_INET6 : AF_INET;
    auto holds = modload::detail::parse_xtables(family, "filter", rest.subspan(1), aliases());
    if (holds) {
        holds_are_named(*holds);
    }
}

// The scratch root: sock_diag is asked only when inet_diag and tcp_diag are loaded.
const modload::fuzz::ScratchRoot& scratch() {
    static const modload::fuzz::ScratchRoot root;
    static const bool written = [] {
        const unsigned char one[] = {'1', '\n'};
        root.write("/sys/module/inet_diag/refcnt", one, sizeof one);
        root.write("/sys/module/tcp_diag/refcnt", one, sizeof one);
        return true;
    }();
    require(written, "the scratch root is written");
    return root;
}

// A rooted system on the scratch root whose netlink answers are the input's, one per request
// (ENOENT when the input ran out, as a rooted system without the recording answers).
class AnsweringSystem final : public modload::System {
  public:
    AnsweringSystem(modload::System& inner, Answers answers) : inner_(inner), answers_(answers) {}

    bool live() const override { return false; }
    const std::filesystem::path& root() const override { return inner_.root(); }
    modload::Kernel& kernel() override { return inner_.kernel(); }
    modload::Clock& clock() override { return inner_.clock(); }
    modload::TracefsInterface& tracefs() override { return inner_.tracefs(); }
    modload::Result<modload::UniqueFd> open_given(const std::string& path, int flags) override {
        return inner_.open_given(path, flags);
    }
    modload::Result<modload::FileStatus> stat_given(const std::string& path) override {
        return inner_.stat_given(path);
    }
    modload::Result<modload::FileStatus> lstat_given(const std::string& path) override {
        return inner_.lstat_given(path);
    }
    modload::Result<std::string> read_link_given(const std::string& path) override {
        return inner_.read_link_given(path);
    }
    modload::Result<std::string> canonical_given(const std::string& path) override {
        return inner_.canonical_given(path);
    }
    modload::Result<void> list_given(const std::string& path,
                                     const modload::EntryVisitor& each) override {
        return inner_.list_given(path, each);
    }
    using System::list;
    modload::Result<void> list(int folder, const modload::EntryVisitor& each) override {
        return inner_.list(folder, each);
    }
    modload::Result<modload::FileStatus> stat_at(int folder, const std::string& name) override {
        return inner_.stat_at(folder, name);
    }
    modload::Result<modload::FileStatus> fstat(int fd) override { return inner_.fstat(fd); }
    modload::Result<std::size_t> read(int fd, std::span<char> buffer) override {
        return inner_.read(fd, buffer);
    }
    modload::Result<std::size_t> read_at(int fd, std::span<char> buffer,
                                         std::uint64_t offset) override {
        return inner_.read_at(fd, buffer, offset);
    }
    modload::Result<std::size_t> write(int fd, std::string_view bytes) override {
        return inner_.write(fd, bytes);
    }
    modload::Result<void> seek_to_end(int fd) override { return inner_.seek_to_end(fd); }
    modload::Result<bool> wait_readable(int fd, std::chrono::milliseconds timeout) override {
        return inner_.wait_readable(fd, timeout);
    }
    unsigned effective_uid() override { return inner_.effective_uid(); }
    modload::Result<modload::UniqueFd> pidfd_open(int pid) override {
        return inner_.pidfd_open(pid);
    }
    modload::Result<modload::UniqueFd> pidfd_getfd(int pidfd, int fd) override {
        return inner_.pidfd_getfd(pidfd, fd);
    }
    modload::Result<bool> same_open_file(int pid1, int fd1, int pid2, int fd2) override {
        return inner_.same_open_file(pid1, fd1, pid2, fd2);
    }
    modload::Result<modload::SocketKind> socket_kind(int fd) override {
        return inner_.socket_kind(fd);
    }
    modload::Result<std::vector<std::byte>> netlink_request(int, Bytes) override {
        if (answers_.empty()) {
            return modload::make_error(ENOENT);
        }
        const Bytes answer = answers_.next();
        return std::vector<std::byte>(answer.begin(), answer.end());
    }
    modload::Result<std::vector<std::byte>> xtables_entries(int, const std::string&) override {
        return modload::make_error(ENOENT);
    }

  private:
    modload::System& inner_;
    Answers answers_;
};

modload::System& rooted() {
    static const auto kernel = modload::make_system_kernel();  // never called
    static const auto system =
        modload::make_rooted_system(scratch().path(), *kernel, modload::system_clock());
    return *system;
}

void traffic_control(Bytes rest) {
    AnsweringSystem system(rooted(), Answers(rest));
    // Modules whose names give a qdisc, a classifier and two actions (their parameters in attribute
    // 2 and 1): the action dumps come first, in this order, then links, qdiscs, classes, filters.
    const std::vector<std::string> modules = {"act_gact", "act_police", "cls_u32", "sch_htb"};
    std::vector<modload::UnreadSource> unread;
    const auto holders = modload::detail::traffic_control_holders(system, "", modules, &unread);
    for (const std::string& module : modules) {
        for (const auto& reference : modload::detail::traffic_control_references(holders, module)) {
            require(!reference.name.empty(), "a tc holder is named");
        }
    }
}

void socket_layers(Bytes rest) {
    AnsweringSystem system(rooted(), Answers(rest));
    std::vector<modload::UnreadSource> unread;
    const auto references =
        modload::detail::socket_layer_references(system, aliases(), {"tls"}, &unread);
    for (const auto& reference : references) {
        require(!reference.ref.name.empty(), "a socket layer holder is named");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const Bytes rest(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
    switch (data[0] % 6) {
        case 0:
            messages(rest);
            break;
        case 1:
            walk_attributes(rest, 4);
            break;
        case 2:
            nftables(rest);
            break;
        case 3:
            xtables(rest);
            break;
        case 4:
            traffic_control(rest);
            break;
        default:
            socket_layers(rest);
            break;
    }
    return 0;
}
