#include "command_line.hpp"

#include <string_view>

#include <CLI/CLI.hpp>

namespace modload::tools {

void add_common_flags(CLI::App& app, CommonFlags& flags, bool short_syslog) {
    app.add_flag(short_syslog ? "-s,--syslog" : "--syslog", flags.syslog,
                 "report errors to syslog, not stderr");
    app.add_flag("-v,--verbose", flags.verbose, "say what is done");
    app.add_flag("-V,--version", flags.version, "show the version");
}

namespace {

// -h or --help as a word of its own, before any "--".
bool asks_for_help(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") {
            return false;
        }
        if (arg == "-h" || arg == "--help") {
            return true;
        }
    }
    return false;
}

}  // namespace

int parse_command_line(CLI::App& app, int argc, char** argv, ToolContext& ctx, Reporter& report,
                       const CommonFlags& flags) {
    // CLI11 answers --help by throwing, and the first exception a static build (-Dstatic=true)
    // throws sorts every unwind table entry of the program (crtbeginT.o registers them with
    // libgcc): some 20 million instructions. The plain spellings are answered here, with the
    // same text; usage errors still go through the exception.
    if (asks_for_help(argc, argv)) {
        ctx.out << app.help();
        return 0;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        ctx.out << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        report.error(e.what());
        return 1;
    }
    if (flags.version) {
        print_version(ctx);
        return 0;
    }
    if (flags.syslog) {
        report.use_syslog();
    }
    report.set_verbosity(flags.verbose);
    return -1;
}

void print_version(ToolContext& ctx) {
    ctx.out << "modload version " << MODLOAD_VERSION << "\n+ZSTD +XZ +ZLIB\n";
}

}  // namespace modload::tools
