// The three tools, and what they share: each piece in its own header, gathered here.
#pragma once

#include "command_line.hpp"
#include "holders.hpp"
#include "json.hpp"
#include "outcome_json.hpp"
#include "reporter.hpp"
#include "signals.hpp"
#include "tool_context.hpp"
#include "words.hpp"

namespace modload::tools {

int run_insmod(ToolContext& ctx, int argc, char** argv);
int run_rmmod(ToolContext& ctx, int argc, char** argv);
int run_lsmod(ToolContext& ctx, int argc, char** argv);

}  // namespace modload::tools
