#include <cerrno>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <modload/policy.hpp>
#include <modload/system.hpp>

#include "fixtures.hpp"

using modload::diagnose_refusal;
using modload::ModuleOperation;
using modload::PolicyCause;
using modload::PolicyFacts;
using modload::read_policy_facts;
using modload::refusal_causes;
using modload::RefusedCall;
using modload::testing::FixtureSystem;
using modload::testing::ScratchDir;
using modload::testing::write_text;

namespace {

using Causes = std::vector<PolicyCause>;
using Names = std::vector<std::string>;

// What /proc/self/status says for a process of `uid` with capability set `cap_eff` (hex).
std::string status_of(const std::string& uid, const std::string& cap_eff) {
    return "Name:\tinsmod\nUmask:\t0022\nState:\tR (running)\nUid:\t" + uid + "\t" + uid + "\t" +
           uid + "\t" + uid + "\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t" + cap_eff +
           "\nCapEff:\t" + cap_eff + "\nCapBnd:\t000001ffffffffff\n";
}

RefusedCall load(int error, const std::string& name = "lab_params", bool signed_module = false,
                 bool forced = false) {
    return RefusedCall{.operation = ModuleOperation::load,
                       .error = error,
                       .name = name,
                       .signature_appended = signed_module,
                       .forced = forced};
}

RefusedCall removal(int error, const std::string& name = "lab_params") {
    return RefusedCall{.operation = ModuleOperation::remove, .error = error, .name = name};
}

}  // namespace

TEST_CASE("policy facts are read from the files under the root", "[policy]") {
    ScratchDir dir;
    const auto root = dir.path();
    write_text(root / "proc/self/status", status_of("1000", "0000000000000000"));
    write_text(root / "proc/self/uid_map", "         0          0 4294967295\n");
    write_text(root / "proc/sys/kernel/modules_disabled", "1\n");
    write_text(root / "proc/cmdline",
               "BOOT_IMAGE=/vmlinuz root=/dev/vda1 module_blacklist=a,lab_params quiet\n");
    write_text(root / "sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
    write_text(root / "sys/module/module/parameters/sig_enforce", "Y\n");

    const PolicyFacts facts = read_policy_facts(FixtureSystem(root));
    CHECK(facts.cap_sys_module == false);
    CHECK(facts.effective_uid == 1000UL);
    CHECK(facts.in_user_namespace == false);
    CHECK(facts.modules_disabled == true);
    REQUIRE(facts.module_blacklist);
    CHECK(*facts.module_blacklist == Names{"a", "lab_params"});
    CHECK(facts.lockdown == "integrity");
    CHECK(facts.sig_enforce == true);
}

TEST_CASE("policy facts that cannot be read stay unknown", "[policy]") {
    ScratchDir dir;
    const PolicyFacts facts = read_policy_facts(FixtureSystem(dir.path()));
    CHECK_FALSE(facts.cap_sys_module);
    CHECK_FALSE(facts.effective_uid);
    CHECK_FALSE(facts.in_user_namespace);
    CHECK_FALSE(facts.modules_disabled);
    CHECK_FALSE(facts.module_blacklist);
    CHECK_FALSE(facts.lockdown);
    CHECK_FALSE(facts.sig_enforce);
    // Nothing known, nothing claimed.
    CHECK(refusal_causes(facts, load(EPERM)).empty());
    CHECK(refusal_causes(facts, load(EKEYREJECTED)).empty());
    CHECK(refusal_causes(facts, removal(EPERM)).empty());
}

TEST_CASE("policy facts: root, CAP_SYS_MODULE and user namespaces", "[policy]") {
    ScratchDir dir;
    const auto root = dir.path();
    SECTION("root with every capability") {
        write_text(root / "proc/self/status", status_of("0", "000001ffffffffff"));
        const PolicyFacts facts = read_policy_facts(FixtureSystem(root));
        CHECK(facts.cap_sys_module == true);
        CHECK(facts.effective_uid == 0UL);
    }
    SECTION("root without CAP_SYS_MODULE (bit 16)") {
        write_text(root / "proc/self/status", status_of("0", "000001fffffeffff"));
        CHECK(read_policy_facts(FixtureSystem(root)).cap_sys_module == false);
    }
    SECTION("a user with only CAP_SYS_MODULE") {
        write_text(root / "proc/self/status", status_of("1000", "0000000000010000"));
        CHECK(read_policy_facts(FixtureSystem(root)).cap_sys_module == true);
    }
    SECTION("a user namespace maps only some uids") {
        write_text(root / "proc/self/uid_map", "         0     100000      65536\n");
        CHECK(read_policy_facts(FixtureSystem(root)).in_user_namespace == true);
    }
    SECTION("a garbled CapEff is unknown") {
        write_text(root / "proc/self/status", "CapEff:\tnot hex\n");
        CHECK_FALSE(read_policy_facts(FixtureSystem(root)).cap_sys_module);
    }
}

TEST_CASE("module_blacklist= is read as the kernel parses its command line", "[policy]") {
    ScratchDir dir;
    const auto root = dir.path();
    auto blacklist_of = [&](const std::string& cmdline) {
        write_text(root / "proc/cmdline", cmdline + "\n");
        return read_policy_facts(FixtureSystem(root)).module_blacklist.value_or(Names{"(unknown)"});
    };
    CHECK(blacklist_of("root=/dev/vda1 quiet") == Names{});
    CHECK(blacklist_of("module_blacklist=lab_params") == Names{"lab_params"});
    SECTION("dashes and underscores are alike in the parameter's name, not in its value") {
        CHECK(blacklist_of("module-blacklist=lab-dash,x") == Names{"lab-dash", "x"});
    }
    SECTION("the last one counts") {
        CHECK(blacklist_of("module_blacklist=a module_blacklist=b,c") == Names{"b", "c"});
    }
    SECTION("quotes are removed, and keep spaces inside a word") {
        CHECK(blacklist_of("x=\"a b\" module_blacklist=\"a,b\" y") == Names{"a", "b"});
        CHECK(blacklist_of("x=\"module_blacklist=a b\"") == Names{});
    }
    SECTION("empty entries are skipped") {
        CHECK(blacklist_of("module_blacklist=,a,,b,") == Names{"a", "b"});
    }
    SECTION("what follows -- goes to init, not to the kernel") {
        CHECK(blacklist_of("quiet -- module_blacklist=a") == Names{});
    }
}

TEST_CASE("policy causes of EPERM, in the kernel's order", "[policy]") {
    PolicyFacts facts;
    facts.cap_sys_module = false;
    facts.modules_disabled = true;
    facts.module_blacklist = Names{"lab_params"};
    facts.lockdown = "integrity";
    facts.sig_enforce = false;
    SECTION("every cause of a load") {
        CHECK(refusal_causes(facts, load(EPERM)) ==
              Causes{PolicyCause::no_capability, PolicyCause::modules_disabled,
                     PolicyCause::locked_down, PolicyCause::blacklisted});
    }
    SECTION("a removal: capability and modules_disabled only") {
        CHECK(refusal_causes(facts, removal(EPERM)) ==
              Causes{PolicyCause::no_capability, PolicyCause::modules_disabled});
    }
    SECTION("root, no lockdown, another module") {
        facts.cap_sys_module = true;
        facts.in_user_namespace = false;
        facts.modules_disabled = false;
        facts.lockdown = "none";
        CHECK(refusal_causes(facts, load(EPERM, "lab_provider")).empty());
        CHECK(refusal_causes(facts, load(EPERM)) == Causes{PolicyCause::blacklisted});
    }
    SECTION("blacklisted names are compared exactly, as blacklisted() does") {
        facts.module_blacklist = Names{"lab-dash", "lab_param"};
        CHECK(refusal_causes(facts, load(EPERM, "lab_dash")) ==
              Causes{PolicyCause::no_capability, PolicyCause::modules_disabled,
                     PolicyCause::locked_down});
    }
    SECTION("capabilities inside a user namespace do not count") {
        facts.cap_sys_module = true;
        facts.in_user_namespace = true;
        CHECK(refusal_causes(facts, removal(EPERM)) ==
              Causes{PolicyCause::user_namespace, PolicyCause::modules_disabled});
    }
    SECTION("lockdown is no cause once signatures are enforced: that gives EKEYREJECTED") {
        facts.sig_enforce = true;
        CHECK(refusal_causes(facts, load(EPERM)) == Causes{PolicyCause::no_capability,
                                                           PolicyCause::modules_disabled,
                                                           PolicyCause::blacklisted});
    }
    SECTION("another errno has no policy cause") {
        CHECK(refusal_causes(facts, load(ENOEXEC)).empty());
        CHECK(refusal_causes(facts, load(EKEYREJECTED)).empty());
        CHECK(refusal_causes(facts, removal(EBUSY)).empty());
    }
}

TEST_CASE("policy causes of EKEYREJECTED: what the module's signature tells", "[policy]") {
    PolicyFacts facts;
    facts.sig_enforce = true;
    SECTION("enforced") {
        CHECK(refusal_causes(facts, load(EKEYREJECTED)) == Causes{PolicyCause::unsigned_module});
        CHECK(refusal_causes(facts, load(EKEYREJECTED, "m", true)) ==
              Causes{PolicyCause::signature_rejected});
        CHECK(refusal_causes(facts, load(EKEYREJECTED, "m", true, true)) ==
              Causes{PolicyCause::signature_ignored});
        CHECK(refusal_causes(facts, load(EKEYREJECTED, "m", false, true)) ==
              Causes{PolicyCause::unsigned_module});
    }
    SECTION("not enforced: only a signature that does not verify is fatal") {
        facts.sig_enforce = false;
        CHECK(refusal_causes(facts, load(EKEYREJECTED)).empty());
        CHECK(refusal_causes(facts, load(EKEYREJECTED, "m", true)) ==
              Causes{PolicyCause::signature_rejected});
        CHECK(refusal_causes(facts, load(EKEYREJECTED, "m", true, true)).empty());
    }
}

TEST_CASE("diagnose_refusal reads the facts and gives the causes", "[policy]") {
    ScratchDir dir;
    write_text(dir / "proc/sys/kernel/modules_disabled", "1\n");
    const auto diagnosis = diagnose_refusal(FixtureSystem(dir.path()), removal(EPERM));
    CHECK(diagnosis.facts.modules_disabled == true);
    CHECK(diagnosis.causes == Causes{PolicyCause::modules_disabled});
}
