#include "veldctl/veldctl.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <ostream>
#include <sstream>

#include <veld/platform/files.hpp>
#include <veld/platform/process.hpp>
#include <veld/platform/time.hpp>

namespace veld::veldctl {

namespace {

// The global --store-password-file, taken out of the arguments by run().
std::string& storePasswordFile() {
    static std::string file;
    return file;
}

}  // namespace

const std::string& storePasswordFileOption() {
    return storePasswordFile();
}

void setStorePasswordFile(std::string file) {
    storePasswordFile() = std::move(file);
}

bool Args::option(const std::string& name, std::string& value) {
    auto it = std::find(m_args.begin(), m_args.end(), name);
    if (it == m_args.end()) return false;
    if (it + 1 == m_args.end()) {
        error = name + " needs a value";
        m_args.erase(it);
        return false;
    }
    value = *(it + 1);
    m_args.erase(it, it + 2);
    return true;
}

bool Args::flag(const std::string& name) {
    auto it = std::find(m_args.begin(), m_args.end(), name);
    if (it == m_args.end()) return false;
    m_args.erase(it);
    return true;
}

std::vector<std::string> Args::positionals() const {
    std::vector<std::string> out;
    for (const auto& a : m_args) {
        if (a.rfind("--", 0) != 0) out.push_back(a);
    }
    return out;
}

std::string Args::unknownOption() const {
    for (const auto& a : m_args) {
        if (a.rfind("--", 0) == 0) return a;
    }
    return {};
}

Result<std::vector<projectkey::LockedKey>> readKeyRing(const std::string& path, bool mayBeMissing) {
    std::ifstream in(platform::fsPath(path));
    if (!in) {
        if (mayBeMissing) return std::vector<projectkey::LockedKey>{};
        return makeError(ErrorCode::NotFound, "no key ring at " + path);
    }
    std::stringstream text;
    text << in.rdbuf();
    return projectkey::parseRing(text.str());
}

std::string askHidden(const char* prompt) {
    std::fputs(prompt, stderr);
    std::string line = platform::readHiddenLine();
    std::fputs("\n", stderr);
    return line;
}

std::optional<std::string> passphrase(const std::string& file, bool twice, std::string_view command,
                                      std::ostream& err) {
    const std::string prefix = "veldctl " + std::string(command) + ": ";
    std::string text;
    if (!file.empty()) {
        std::ifstream in(platform::fsPath(file));
        if (!in || !std::getline(in, text)) {
            err << prefix << "cannot read a passphrase from " << file << "\n";
            return std::nullopt;
        }
        if (!text.empty() && text.back() == '\r') text.pop_back();  // a file saved with CRLF
        return text;
    }
    if (const auto env = platform::environment("VELD_KEY_PASSPHRASE"); !env.empty()) return env;
    if (!platform::inputIsTerminal()) {
        err << prefix << "no passphrase (use --passphrase-file or VELD_KEY_PASSPHRASE)\n";
        return std::nullopt;
    }
    text = askHidden("passphrase: ");
    if (twice && askHidden("again: ") != text) {
        err << prefix << "the two passphrases differ\n";
        return std::nullopt;
    }
    return text;
}

std::string commandActor() {
    const std::string user = platform::userName();
    return "veldctl:" + (user.empty() ? std::string("unknown") : user);
}

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string utcTime(std::int64_t ms) {
    const auto t = static_cast<std::time_t>(ms / 1000);
    const std::tm tm = platform::utcCalendar(t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

ProgressLine::ProgressLine(std::ostream& err, std::string prefix, bool terminal,
                           std::function<std::int64_t()> clockMs, std::int64_t intervalMs)
    : m_err(err),
      m_prefix(std::move(prefix)),
      m_terminal(terminal),
      m_clock(std::move(clockMs)),
      m_interval(intervalMs) {}

void ProgressLine::update(std::int64_t done, std::int64_t total) {
    if (!m_terminal) return;
    const std::int64_t now = m_clock();
    if (m_drawn && done < total && now - m_last < m_interval) return;
    m_last = now;
    m_drawn = true;
    m_err << "\r" << m_prefix << ": " << done << " of " << total << " records" << std::flush;
}

void ProgressLine::finish() {
    if (m_drawn) m_err << "\n" << std::flush;
    m_drawn = false;
}

}  // namespace veld::veldctl
