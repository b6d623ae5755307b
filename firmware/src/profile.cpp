#include <veld/platform/files.hpp>
#include <veld/profile.hpp>

namespace veld {

std::string profileStorePath(const std::string& profile, bool makeFolder) {
    const std::string dir = platform::utf8Path(platform::fsPath(platform::dataFolder()) /
                                               "profiles" / platform::fsPath(profile));
    if (makeFolder) (void)platform::makePrivateFolder(dir);
    return platform::utf8Path(platform::fsPath(dir) / "device.veld");
}

}  // namespace veld
