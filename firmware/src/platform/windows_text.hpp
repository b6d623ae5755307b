// UTF-8 <-> UTF-16 for the Windows implementations of the platform layer.
#pragma once

#include <string>
#include <string_view>

namespace veld::platform::windows {

/// UTF-16 of UTF-8 text (invalid sequences become U+FFFD).
std::wstring wide(std::string_view utf8);

/// UTF-8 of UTF-16 text.
std::string utf8(std::wstring_view text);

/// The system's message for an error number of GetLastError(), in UTF-8.
std::string systemMessage(unsigned long error);

}  // namespace veld::platform::windows
