// insmod --json and rmmod --json, read back as JSON: what happened, as data, beside the words
// that still go to stderr.
#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "basic_world.hpp"
#include "fixtures.hpp"
#include "json_value.hpp"
#include "model_kernel.hpp"

using modload::testing::BasicWorld;
using modload::testing::fixture_module;
using modload::testing::JsonValue;
using modload::testing::Millis;
using modload::testing::ModelKernel;
using modload::testing::run_tool;
using modload::testing::ScratchDir;
using modload::testing::write_text;
namespace fs = std::filesystem;

namespace {

// stdout as one JSON object on one line, or a failed test.
JsonValue object_of(const std::string& out) {
    REQUIRE(!out.empty());
    CHECK(out.back() == '\n');
    CHECK(out.find('\n') == out.size() - 1);  // one line
    std::string error;
    const auto value = JsonValue::parse(out, &error);
    INFO(error << "\n" << out);
    REQUIRE(value);
    REQUIRE(value->is_object());
    return *value;
}

std::vector<std::string> names_in(const JsonValue& array) {
    std::vector<std::string> names;
    for (const JsonValue& v : array.array()) {
        names.push_back(v["name"].str());
    }
    return names;
}

// The fixture chain (fixture_consumer uses fixture_provider uses fixture_base), side by side.
struct ChainRoot {
    ScratchDir dir;
    fs::path root = dir.path();
    fs::path modules = root / "modules";

    ChainRoot() {
        write_text(root / "proc/modules", "");
        // The chain's base depends on ext4, built in.
        write_text(root / "lib/modules/6.1.0-test/modules.builtin", "kernel/fs/ext4/ext4.ko\n");
        fs::create_directories(modules);
        for (const char* name : {"fixture_consumer.ko", "fixture-provider.ko", "fixture_base.ko"}) {
            fs::copy_file(fixture_module(name), modules / name);
        }
    }
    std::string file(const std::string& name) const { return (modules / name).string(); }
};

}  // namespace

TEST_CASE("rmmod --json: a removal as data, nothing on stderr", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--json", "iptable_nat"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    const JsonValue json = object_of(run.out);
    CHECK(json["status"].number() == 0);
    CHECK(json["dry_run"].boolean() == false);
    CHECK(json["removed"].strings() == std::vector<std::string>{"iptable_nat"});
    CHECK(names_in(json["plan"]) == std::vector<std::string>{"iptable_nat"});
    CHECK(json["plan"].array()[0]["reason"].str() == "target");
    CHECK(json["failures"].array().empty());
    CHECK(json["left"].array().empty());
    CHECK(w.kernel.find("iptable_nat") == nullptr);
}

TEST_CASE("rmmod --json: a refusal has its kind, obstacle and words; stderr says it too",
          "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--json", "lab_dev", "nosuch"});
    CHECK(run.status == 1);
    CHECK(run.err.find("rmmod: ERROR: Module lab_dev is in use\n") != std::string::npos);
    const JsonValue json = object_of(run.out);
    CHECK(json["status"].number() == 1);
    REQUIRE(json["failures"].array().size() == 2);
    const JsonValue& in_use = json["failures"].array()[0];
    CHECK(in_use["name"].str() == "lab_dev");
    CHECK(in_use["kind"].str() == "refused by a check");
    CHECK(in_use["obstacle"].str() == "in use");
    CHECK(in_use["module"]["refcount"].number() == 2);
    REQUIRE(!in_use["words"].array().empty());
    CHECK(in_use["words"].array()[0].str() == "ERROR: Module lab_dev is in use");
    const JsonValue& missing = json["failures"].array()[1];
    CHECK(missing["obstacle"].str() == "not loaded");
    CHECK(missing["module"].is_null());
    CHECK(missing["words"].strings() ==
          std::vector<std::string>{"ERROR: Module nosuch is not currently loaded"});
    CHECK(json["removed"].array().empty());
}

TEST_CASE("rmmod --json -r: a configuration it cannot read is a failure of its own kind",
          "[rmmod]") {
    BasicWorld w;
    std::filesystem::create_directories(w.root / "etc");
    write_text(w.root / "etc/modprobe.d", "not a folder\n");
    const auto run = w.rmmod({"--json", "-r", "iptable_nat"});
    CHECK(run.status == 1);
    const JsonValue json = object_of(run.out);
    REQUIRE(json["failures"].array().size() == 1);
    const JsonValue& failure = json["failures"].array()[0];
    CHECK(failure["kind"].str() == "configuration unreadable");
    CHECK(failure["stage"].str() == "configuration");
    CHECK(failure["obstacle"].is_null());
    REQUIRE(!failure["words"].array().empty());
    CHECK(failure["words"].array()[0].str().rfind(
              "ERROR: could not read the module configuration: ", 0) == 0);
    CHECK(json["removed"].array().empty());
    CHECK(w.kernel.calls().empty());
}

TEST_CASE("rmmod --json --dry-run gives the plan and removes nothing", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--json", "-n", "-r", "iptable_nat"});
    CHECK(run.status == 0);
    const JsonValue json = object_of(run.out);  // the names are in the JSON, not on lines
    CHECK(json["dry_run"].boolean() == true);
    const std::vector<std::string> plan = names_in(json["plan"]);
    REQUIRE(!plan.empty());
    CHECK(plan.front() == "iptable_nat");
    CHECK(std::find(plan.begin(), plan.end(), "nf_nat") != plan.end());
    for (std::size_t i = 1; i < plan.size(); ++i) {
        CHECK(json["plan"].array()[i]["reason"].str() == "unused dependency");
    }
    CHECK(json["removed"].array().empty());
    CHECK(w.our_deletes().empty());
}

TEST_CASE("rmmod --json -w MSEC: a wait that runs out is timed out, with its obstacle", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--json", "-w", "1500", "lab_dev"});
    CHECK(run.status == 1);
    const JsonValue json = object_of(run.out);
    REQUIRE(json["failures"].array().size() == 1);
    const JsonValue& failure = json["failures"].array()[0];
    CHECK(failure["kind"].str() == "timed out");
    CHECK(failure["obstacle"].str() == "in use");
    CHECK(failure["errno"].number() == ETIMEDOUT);
    REQUIRE(!failure["words"].array().empty());
    CHECK(failure["words"].array()[0].str().rfind("ERROR: could not remove module lab_dev: still "
                                                  "in use after ",
                                                  0) == 0);
    CHECK(w.kernel.find("lab_dev") != nullptr);
}

TEST_CASE("rmmod --json: an argument that is not a module name is a failure too", "[rmmod]") {
    BasicWorld w;
    const auto run = w.rmmod({"--json", "-r", std::string(80, 'a')});
    CHECK(run.status == 1);
    const JsonValue json = object_of(run.out);
    REQUIRE(json["failures"].array().size() == 1);
    CHECK(json["failures"].array()[0]["kind"].str() == "refused by a check");
    CHECK(json["failures"].array()[0]["errno"].number() == EINVAL);
    CHECK(json["plan"].array().empty());
}

TEST_CASE("insmod --json: a load as data, nothing on stderr", "[insmod]") {
    ChainRoot r;
    ModelKernel kernel(r.root, {"ext4"});
    const auto run = run_tool("insmod", kernel, r.root, {"--json", r.file("fixture_base.ko")});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    const JsonValue json = object_of(run.out);
    CHECK(json["status"].number() == 0);
    CHECK(json["file"].str() == r.file("fixture_base.ko"));
    CHECK(json["loaded"].strings() == std::vector<std::string>{"fixture_base"});
    REQUIRE(json["plan"].array().size() == 1);
    CHECK(json["plan"].array()[0]["role"].str() == "target");
    CHECK(json["plan"].array()[0]["result"].str() == "inserted");
    CHECK(json["plan"].array()[0]["method"].str() == "finit_module");
    CHECK(json["failures"].array().empty());
}

TEST_CASE("insmod --json --deps: the dependencies loaded first, in order", "[insmod]") {
    ChainRoot r;
    ModelKernel kernel(r.root, {"ext4"});
    const auto run =
        run_tool("insmod", kernel, r.root, {"--json", "--deps", r.file("fixture_consumer.ko")});
    CHECK(run.status == 0);
    const JsonValue json = object_of(run.out);
    CHECK(json["loaded"].strings() ==
          std::vector<std::string>{"fixture_base", "fixture_provider", "fixture_consumer"});
    CHECK(json["plan"].array()[0]["role"].str() == "dependency");
}

TEST_CASE("insmod --json --dry-run: the plan, planned, and no paths on stdout", "[insmod]") {
    ChainRoot r;
    ModelKernel kernel(r.root, {"ext4"});
    const auto run =
        run_tool("insmod", kernel, r.root, {"--json", "-d", "-n", r.file("fixture_consumer.ko")});
    CHECK(run.status == 0);
    const JsonValue json = object_of(run.out);
    CHECK(json["dry_run"].boolean() == true);
    REQUIRE(json["plan"].array().size() == 3);
    CHECK(json["plan"].array()[0]["path"].str() == r.file("fixture_base.ko"));
    for (const JsonValue& step : json["plan"].array()) {
        CHECK(step["result"].str() == "planned");
    }
    CHECK(json["loaded"].array().empty());
    CHECK(kernel.calls().empty());
}

TEST_CASE("insmod --json: a refused dependency, what was removed again, and the words",
          "[insmod]") {
    ChainRoot r;
    ModelKernel kernel(r.root, {"ext4"});
    kernel.configure("fixture_provider", Millis{0}, Millis{0}, ENOEXEC);
    const std::string file = r.file("fixture_consumer.ko");
    const auto run = run_tool("insmod", kernel, r.root, {"--json", "--deps", file});
    CHECK(run.status == 1);
    CHECK(run.err.find("insmod: ERROR: could not insert module ") != std::string::npos);
    const JsonValue json = object_of(run.out);
    CHECK(json["status"].number() == 1);
    CHECK(json["loaded"].array().empty());
    CHECK(json["removed"].strings() == std::vector<std::string>{"fixture_base"});
    REQUIRE(json["failures"].array().size() == 1);
    const JsonValue& failure = json["failures"].array()[0];
    CHECK(failure["name"].str() == "fixture_provider");
    CHECK(failure["kind"].str() == "loading");
    CHECK(failure["dependency"].boolean() == true);
    CHECK(failure["errno"].number() == ENOEXEC);
    CHECK(failure["words"].strings() ==
          std::vector<std::string>{"ERROR: could not insert module " +
                                       r.file("fixture-provider.ko") + ": Invalid module format",
                                   "stopped before loading " + file +
                                       "; loaded for it and removed again: fixture_base"});
}

TEST_CASE("insmod --json: a file that cannot be opened fails at opening", "[insmod]") {
    ChainRoot r;
    ModelKernel kernel(r.root, {"ext4"});
    const auto run = run_tool("insmod", kernel, r.root, {"--json", r.file("nosuch.ko")});
    CHECK(run.status == 1);
    const JsonValue json = object_of(run.out);
    REQUIRE(json["failures"].array().size() == 1);
    CHECK(json["failures"].array()[0]["kind"].str() == "opening");
    CHECK(json["failures"].array()[0]["errno"].number() == ENOENT);
    CHECK(json["plan"].array().empty());
}
