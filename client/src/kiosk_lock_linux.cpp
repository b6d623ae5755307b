// The kiosk's window on Linux: full screen on the primary monitor. The cage compositor it runs
// in keeps other programs and the switching keys away, so no keyboard guard is needed.
#include <GLFW/glfw3.h>

#include "kiosk_lock.hpp"

namespace veld::client {

struct KioskKeyGuard::Impl {};

KioskKeyGuard::KioskKeyGuard() = default;
KioskKeyGuard::~KioskKeyGuard() = default;

bool KioskKeyGuard::installed() const {
    return false;
}

KioskLock::KioskLock(GLFWwindow* window) : m_window(window) {
    glfwGetWindowPos(m_window, &m_x, &m_y);
    glfwGetWindowSize(m_window, &m_width, &m_height);
    GLFWmonitor* monitor = glfwGetPrimaryMonitor();
    const GLFWvidmode* mode = monitor ? glfwGetVideoMode(monitor) : nullptr;
    if (mode) {
        glfwSetWindowMonitor(m_window, monitor, 0, 0, mode->width, mode->height, mode->refreshRate);
    }
}

KioskLock::~KioskLock() {
    glfwSetWindowMonitor(m_window, nullptr, m_x, m_y, m_width, m_height, 0);
}

void KioskLock::keepInFront() {}

}  // namespace veld::client
