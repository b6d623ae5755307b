// Where a named device profile keeps its store. The client (veld --profile NAME) and the sync
// agent (veld-agent --profile NAME) find the same file through this one rule.
#pragma once

#include <string>

namespace veld {

/// The store of device profile `profile`: $XDG_DATA_HOME/veld/profiles/NAME/device.veld, or
/// ~/.local/share/veld/profiles/NAME/device.veld when XDG_DATA_HOME is unset or empty; on
/// Windows %LOCALAPPDATA%\Veld\profiles\NAME\device.veld (platform::dataFolder()). With
/// `makeFolder` the profile's folder is made private (mode 0700) when missing.
std::string profileStorePath(const std::string& profile, bool makeFolder);

}  // namespace veld
