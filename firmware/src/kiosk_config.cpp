#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <veld/kiosk_config.hpp>
#include <veld/platform/files.hpp>

namespace veld::kiosk {

namespace {

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t\r");
    return s.substr(first, last - first + 1);
}

bool oneLine(const std::string& value) {
    return value.find_first_of("\r\n") == std::string::npos;
}

}  // namespace

Result<Config> parseConfig(const std::string& text, const std::string& name) {
    Config config;
    std::istringstream in(text);
    std::string line;
    int number = 0;
    auto bad = [&](const std::string& why) {
        return makeError(ErrorCode::InvalidArgument,
                         name + ":" + std::to_string(number) + ": " + why);
    };
    while (std::getline(in, line)) {
        ++number;
        const std::string content = trim(line);
        if (content.empty() || content[0] == '#') continue;
        const auto eq = content.find('=');
        if (eq == std::string::npos) return bad("expected key = value");
        const std::string key = trim(content.substr(0, eq));
        const std::string value = trim(content.substr(eq + 1));
        if (key == "form") {
            config.form = value;
        } else if (key == "store") {
            config.store = value;
        } else if (key == "client") {
            config.client = value;
        } else if (key == "language") {
            if (value != "nl" && value != "en") return bad("language must be nl or en");
            config.language = value;
        } else if (key == "watchdog_seconds") {
            char* end = nullptr;
            errno = 0;
            const long seconds = std::strtol(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || errno != 0 || seconds < 2 || seconds > 3600) {
                return bad("watchdog_seconds must be a whole number from 2 to 3600");
            }
            config.watchdogSeconds = static_cast<int>(seconds);
        } else {
            return bad("unknown key '" + key + "'");
        }
    }
    return config;
}

Result<Config> readConfig(const std::string& path) {
    constexpr std::size_t kMaxConfigBytes = 64 * 1024;
    auto text = platform::readFile(path, kMaxConfigBytes);
    if (!text) {
        if (text.error().code == ErrorCode::NotFound)
            return makeError(ErrorCode::NotFound, "no kiosk configuration at " + path);
        return makeError(ErrorCode::Io, text.error().message);
    }
    if (text->size() > kMaxConfigBytes)
        return makeError(ErrorCode::InvalidArgument, path + " is larger than 64 KiB");
    return parseConfig(text.value(), path);
}

std::string formatConfig(const Config& config) {
    std::ostringstream out;
    out << "# The Veld kiosk: veld-kiosk-session runs the client in kiosk mode with this form and\n"
           "# store (written by veldctl kiosk setup; see veld-kiosk-session(1)).\n";
    out << "form = " << config.form << "\n";
    out << "store = " << config.store << "\n";
    if (!config.client.empty()) out << "client = " << config.client << "\n";
    if (!config.language.empty()) out << "language = " << config.language << "\n";
    if (config.watchdogSeconds > 0) out << "watchdog_seconds = " << config.watchdogSeconds << "\n";
    return out.str();
}

Status writeConfig(const std::string& path, const Config& config) {
    for (const std::string* value :
         {&config.form, &config.store, &config.client, &config.language}) {
        if (!oneLine(*value)) {
            return makeError(ErrorCode::InvalidArgument, "a kiosk setting holds a line break");
        }
    }
    namespace fs = std::filesystem;
    const fs::path target = platform::fsPath(path);
    std::error_code ec;
    if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
    // Readable by everyone: the kiosk session reads it as another user.
    return platform::writeFileAtomically(path, formatConfig(config), platform::Access::Public);
}

}  // namespace veld::kiosk
