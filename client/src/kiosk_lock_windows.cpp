// The kiosk's window on Windows, which has no compositor to hold it: a borderless topmost window
// over the whole primary monitor (windowed full screen: no mode change, and it stays up when
// focus goes elsewhere), brought back to the front once a frame, and a low-level keyboard hook
// that swallows the shell's switching keys before Windows acts on them.
#include <future>
#include <thread>

// clang-format off
#include <windows.h>
// clang-format on

#include <GLFW/glfw3.h>
#define GLFW_EXPOSE_NATIVE_WIN32
#include <GLFW/glfw3native.h>

#include "kiosk_lock.hpp"

namespace veld::client {

namespace {

bool held(int key) {
    return (GetAsyncKeyState(key) & 0x8000) != 0;
}

LRESULT CALLBACK onKey(int code, WPARAM message, LPARAM data) {
    if (code == HC_ACTION) {
        const auto* key = reinterpret_cast<const KBDLLHOOKSTRUCT*>(data);
        const bool alt = (key->flags & LLKHF_ALTDOWN) != 0 || held(VK_MENU);
        if (kioskSwallowsKey(key->vkCode, alt, held(VK_CONTROL))) return 1;
    }
    return CallNextHookEx(nullptr, code, message, data);
}

}  // namespace

// The hook lives on a thread of its own with its own message loop: Windows calls a low-level
// hook through that thread's messages, and skips (and after a few times removes) a hook that
// does not answer in time, which a frame loop waiting for input or drawing could not promise.
struct KioskKeyGuard::Impl {
    std::thread thread;
    DWORD threadId = 0;
    bool installed = false;
};

KioskKeyGuard::KioskKeyGuard() : m(std::make_unique<Impl>()) {
    // The thread owns the promise: it outlives set_value(), whenever the caller stops waiting.
    std::promise<bool> ready;
    auto installed = ready.get_future();
    m->thread = std::thread([this, ready = std::move(ready)]() mutable {
        MSG message;
        // The thread's message queue exists before anyone posts WM_QUIT to it.
        PeekMessageW(&message, nullptr, WM_USER, WM_USER, PM_NOREMOVE);
        m->threadId = GetCurrentThreadId();
        HHOOK hook = SetWindowsHookExW(WH_KEYBOARD_LL, onKey, GetModuleHandleW(nullptr), 0);
        ready.set_value(hook != nullptr);
        if (!hook) return;
        while (GetMessageW(&message, nullptr, 0, 0) > 0) {
            TranslateMessage(&message);
            DispatchMessageW(&message);
        }
        UnhookWindowsHookEx(hook);
    });
    m->installed = installed.get();
}

KioskKeyGuard::~KioskKeyGuard() {
    if (m->installed) PostThreadMessageW(m->threadId, WM_QUIT, 0, 0);
    m->thread.join();
}

bool KioskKeyGuard::installed() const {
    return m->installed;
}

KioskLock::KioskLock(GLFWwindow* window) : m_window(window) {
    glfwGetWindowPos(m_window, &m_x, &m_y);
    glfwGetWindowSize(m_window, &m_width, &m_height);
    GLFWmonitor* monitor = glfwGetPrimaryMonitor();
    const GLFWvidmode* mode = monitor ? glfwGetVideoMode(monitor) : nullptr;
    if (mode) {
        int left = 0, top = 0;
        glfwGetMonitorPos(monitor, &left, &top);
        glfwSetWindowAttrib(m_window, GLFW_DECORATED, GLFW_FALSE);
        glfwSetWindowAttrib(m_window, GLFW_FLOATING, GLFW_TRUE);
        glfwSetWindowMonitor(m_window, nullptr, left, top, mode->width, mode->height, 0);
    }
    m_keys = std::make_unique<KioskKeyGuard>();
    keepInFront();
}

KioskLock::~KioskLock() {
    m_keys.reset();
    glfwSetWindowAttrib(m_window, GLFW_FLOATING, GLFW_FALSE);
    glfwSetWindowAttrib(m_window, GLFW_DECORATED, GLFW_TRUE);
    glfwSetWindowMonitor(m_window, nullptr, m_x, m_y, m_width, m_height, 0);
}

void KioskLock::keepInFront() {
    HWND window = glfwGetWin32Window(m_window);
    if (!window || GetForegroundWindow() == window) return;
    if (IsIconic(window)) ShowWindow(window, SW_RESTORE);
    SetWindowPos(window, HWND_TOPMOST, 0, 0, 0, 0, SWP_NOMOVE | SWP_NOSIZE | SWP_SHOWWINDOW);
    // Windows may refuse the focus to a program that is not in front; it stays topmost then,
    // and the next tap on it brings the focus back.
    SetForegroundWindow(window);
}

}  // namespace veld::client
