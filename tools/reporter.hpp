// How a tool says things: kmod's "PROGRAM: ERROR: text" on stderr or to syslog.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace modload::tools {

/// Says things the way kmod's tools do: "PROGRAM: ERROR: text" on stderr or to syslog.
class Reporter {
  public:
    Reporter(std::string program, std::ostream& err) : program_(std::move(program)), err_(err) {}
    ~Reporter();
    Reporter(const Reporter&) = delete;
    Reporter& operator=(const Reporter&) = delete;

    void use_syslog();
    void set_verbosity(int verbosity) { verbosity_ = verbosity; }
    int verbosity() const { return verbosity_; }

    void error(const std::string& text);
    /// "PROGRAM: text": explanations that follow an error, and progress (waiting for X).
    void note(const std::string& text);
    /// Printed only with -v.
    void info(const std::string& text);
    /// note(), unless this text was said before in this run.
    void note_once(const std::string& text);

    /// Every error and note said from now on is also kept ("ERROR: text", "text"), until
    /// take_said(): the words of one outcome, for --json.
    void keep_said() { keeping_ = true; }
    std::vector<std::string> take_said();

  private:
    void emit(int priority, const char* label, const std::string& text);

    std::string program_;
    std::ostream& err_;
    bool syslog_ = false;
    int verbosity_ = 0;
    bool keeping_ = false;
    std::vector<std::string> said_;
    std::vector<std::string> said_once_;
};

}  // namespace modload::tools
