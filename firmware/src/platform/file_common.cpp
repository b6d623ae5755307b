// What File does the same on every system: moving and closing when it goes (the system's side
// is in files_posix.cpp and files_windows.cpp).
#include <utility>

#include <veld/platform/files.hpp>

namespace veld::platform {

File::File(File&& other) noexcept : m_handle(other.m_handle), m_path(std::move(other.m_path)) {
    other.m_handle = kNone;
}

File& File::operator=(File&& other) noexcept {
    if (this != &other) {
        (void)close();
        m_handle = other.m_handle;
        m_path = std::move(other.m_path);
        other.m_handle = kNone;
    }
    return *this;
}

File::~File() {
    (void)close();
}

}  // namespace veld::platform
