// insmod --json and rmmod --json: what happened, as one JSON object on stdout (the keys are
// documented in insmod.8 and rmmod.8). Each failure carries the words said for it on stderr.
#pragma once

#include <string>
#include <vector>

#include <modload/loading.hpp>
#include <modload/removal.hpp>

#include "reporter.hpp"
#include "tool_context.hpp"

namespace modload::tools {

/// Collects rmmod's failures and their words; prints the object at the end when asked.
class RemovalJson {
  public:
    explicit RemovalJson(bool wanted) : wanted_(wanted) {}

    /// Before a failure is said: what is said from here on is its words.
    void begin(Reporter& report);
    /// An argument that is not a module name, refused before the library is asked.
    void not_a_name(Reporter& report, const std::string& argument);
    void failure(Reporter& report, const RemovalFailure& failure);
    int failures() const { return static_cast<int>(failures_.size()); }

    /// Prints the object when asked (`outcome` null: the library was never asked) and returns
    /// `status`.
    int finish(ToolContext& ctx, int status, const RemovalOutcome* outcome = nullptr,
               bool dry_run = false) const;

  private:
    bool wanted_;
    std::vector<std::string> failures_;  // written
};

/// insmod's object: the outcome, the words said for its failure, the exit status.
std::string load_json(const LoadOutcome& outcome, const std::string& file, bool dry_run,
                      const std::vector<std::string>& failure_words, int status);

/// insmod's object when it failed before asking the library (standard input unreadable).
std::string load_json_before(const std::string& file, const Error& error,
                             const std::vector<std::string>& words, int status);

}  // namespace modload::tools
