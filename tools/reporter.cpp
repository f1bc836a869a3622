#include "reporter.hpp"

#include <algorithm>
#include <utility>

#include <syslog.h>

namespace modload::tools {

Reporter::~Reporter() {
    if (syslog_) {
        closelog();
    }
}

void Reporter::use_syslog() {
    if (!syslog_) {
        openlog(program_.c_str(), LOG_CONS, LOG_DAEMON);
        syslog_ = true;
    }
}

void Reporter::emit(int priority, const char* label, const std::string& text) {
    const std::string line = label[0] != '\0' ? std::string(label) + ": " + text : text;
    if (keeping_ && priority != LOG_INFO) {
        said_.push_back(line);
    }
    if (syslog_) {
        ::syslog(priority, "%s", line.c_str());
        return;
    }
    err_ << program_ << ": " << line << '\n';
    err_.flush();
}

std::vector<std::string> Reporter::take_said() {
    std::vector<std::string> said = std::move(said_);
    said_.clear();
    return said;
}

void Reporter::note(const std::string& text) {
    emit(LOG_NOTICE, "", text);
}

void Reporter::note_once(const std::string& text) {
    if (std::find(said_once_.begin(), said_once_.end(), text) == said_once_.end()) {
        said_once_.push_back(text);
        note(text);
    }
}

void Reporter::error(const std::string& text) {
    emit(LOG_ERR, "ERROR", text);
}

void Reporter::info(const std::string& text) {
    if (verbosity_ > 0) {
        emit(LOG_INFO, "INFO", text);
    }
}

}  // namespace modload::tools
