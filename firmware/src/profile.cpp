#include <cstdlib>
#include <filesystem>

#include <sys/stat.h>

#include <veld/profile.hpp>

namespace veld {

std::string profileStorePath(const std::string& profile, bool makeFolder) {
    namespace fs = std::filesystem;
    const char* xdg = std::getenv("XDG_DATA_HOME");
    const char* home = std::getenv("HOME");
    const fs::path base =
        xdg && *xdg ? fs::path(xdg) : fs::path(home ? home : ".") / ".local/share";
    const fs::path dir = base / "veld" / "profiles" / profile;
    if (makeFolder) {
        std::error_code ec;
        fs::create_directories(dir, ec);
        ::chmod(dir.c_str(), 0700);
    }
    return (dir / "device.veld").string();
}

}  // namespace veld
