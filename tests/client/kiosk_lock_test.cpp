// Kiosk mode's hold on the keyboard and the screen: which key presses it keeps from the shell
// (everywhere), and on Windows the real low-level keyboard hook, watched by a second hook behind
// it while keys are injected with SendInput, and the real window covering the primary monitor.
#include "kiosk_lock.hpp"

#include <doctest/doctest.h>

using veld::client::kioskSwallowsKey;
namespace vk = veld::client::vk;

TEST_CASE("the kiosk keeps the switching keys from the shell and lets every other key through") {
    constexpr unsigned kLetterA = 'A';
    constexpr unsigned kF4 = 0x73;
    constexpr unsigned kSpace = 0x20;
    // The Windows keys, alone or with anything (Start menu, Windows+D, Windows+Tab, ...).
    for (const unsigned key : {vk::kLeftWindows, vk::kRightWindows}) {
        CHECK(kioskSwallowsKey(key, false, false));
        CHECK(kioskSwallowsKey(key, true, true));
    }
    CHECK(kioskSwallowsKey(vk::kTab, true, false));            // Alt+Tab (and Alt+Shift+Tab)
    CHECK(kioskSwallowsKey(vk::kEscape, true, false));         // Alt+Esc
    CHECK(kioskSwallowsKey(vk::kEscape, false, true));         // Ctrl+Esc, Ctrl+Shift+Esc
    CHECK_FALSE(kioskSwallowsKey(vk::kTab, false, false));     // Tab moves between fields
    CHECK_FALSE(kioskSwallowsKey(vk::kTab, false, true));      // Ctrl+Tab
    CHECK_FALSE(kioskSwallowsKey(vk::kEscape, false, false));  // Esc closes a keypad
    CHECK_FALSE(kioskSwallowsKey(kLetterA, false, false));
    CHECK_FALSE(kioskSwallowsKey(kLetterA, false, true));  // Ctrl+A in a text answer
    CHECK_FALSE(kioskSwallowsKey(kSpace, false, false));
    // Alt+F4 reaches the kiosk, which asks for the staff PIN instead of closing.
    CHECK_FALSE(kioskSwallowsKey(kF4, true, false));
}

#ifdef _WIN32
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

// clang-format off
#include <windows.h>
// clang-format on

#include <GLFW/glfw3.h>
#define GLFW_EXPOSE_NATIVE_WIN32
#include <GLFW/glfw3native.h>

namespace {

using namespace std::chrono_literals;

// A low-level hook installed before the guard: Windows calls the newest hook first, so this one
// sees a key only when the guard let it through.
class Observer {
  public:
    Observer() {
        std::promise<bool> ready;
        auto installed = ready.get_future();
        m_thread = std::thread([this, ready = std::move(ready)]() mutable {
            MSG message;
            PeekMessageW(&message, nullptr, WM_USER, WM_USER, PM_NOREMOVE);
            m_threadId = GetCurrentThreadId();
            s_self = this;
            HHOOK hook = SetWindowsHookExW(WH_KEYBOARD_LL, onKey, GetModuleHandleW(nullptr), 0);
            ready.set_value(hook != nullptr);
            if (!hook) return;
            while (GetMessageW(&message, nullptr, 0, 0) > 0)
                DispatchMessageW(&message);
            UnhookWindowsHookEx(hook);
        });
        m_installed = installed.get();
    }
    ~Observer() {
        if (m_installed) PostThreadMessageW(m_threadId, WM_QUIT, 0, 0);
        m_thread.join();
    }
    [[nodiscard]] bool installed() const { return m_installed; }
    [[nodiscard]] long count(DWORD key) const {
        const std::lock_guard guard(m_lock);
        return static_cast<long>(std::count(m_seen.begin(), m_seen.end(), key));
    }
    [[nodiscard]] bool saw(DWORD key) const { return count(key) > 0; }
    // Waits until `key` was seen (the keys sent before it have passed every hook by then).
    bool waitFor(DWORD key) const {
        const auto until = std::chrono::steady_clock::now() + 3s;
        while (!saw(key) && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(10ms);
        return saw(key);
    }
    void clear() {
        const std::lock_guard guard(m_lock);
        m_seen.clear();
    }

  private:
    static LRESULT CALLBACK onKey(int code, WPARAM message, LPARAM data) {
        if (code == HC_ACTION && (message == WM_KEYDOWN || message == WM_SYSKEYDOWN)) {
            const auto* key = reinterpret_cast<const KBDLLHOOKSTRUCT*>(data);
            const std::lock_guard guard(s_self->m_lock);
            s_self->m_seen.push_back(key->vkCode);
        }
        // The Windows keys go no further (they would open the Start menu); every other key
        // must, for Windows to know which modifiers are held.
        if (code == HC_ACTION) {
            const auto vkCode = reinterpret_cast<const KBDLLHOOKSTRUCT*>(data)->vkCode;
            if (vkCode == VK_LWIN || vkCode == VK_RWIN) return 1;
        }
        return CallNextHookEx(nullptr, code, message, data);
    }

    static inline Observer* s_self = nullptr;
    std::thread m_thread;
    DWORD m_threadId = 0;
    bool m_installed = false;
    mutable std::mutex m_lock;
    std::vector<DWORD> m_seen;
};

// Presses `keys` together, as a person would (down in order, up in reverse).
bool press(std::vector<WORD> keys) {
    std::vector<INPUT> inputs;
    for (const WORD key : keys) {
        INPUT in{};
        in.type = INPUT_KEYBOARD;
        in.ki.wVk = key;
        inputs.push_back(in);
    }
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
        INPUT in{};
        in.type = INPUT_KEYBOARD;
        in.ki.wVk = *it;
        in.ki.dwFlags = KEYEVENTF_KEYUP;
        inputs.push_back(in);
    }
    return SendInput(static_cast<UINT>(inputs.size()), inputs.data(), sizeof(INPUT)) ==
           inputs.size();
}

}  // namespace

TEST_CASE(
    "on Windows the kiosk's keyboard hook swallows Alt+Tab and the Windows keys until it "
    "is removed") {
    Observer observer;
    REQUIRE(observer.installed());
    constexpr WORD kMarker = 'Z';

    // Without the guard every key gets through: the observer can tell.
    REQUIRE(press({VK_LWIN}));
    REQUIRE(press({kMarker}));
    REQUIRE(observer.waitFor(kMarker));
    CHECK(observer.saw(VK_LWIN));
    observer.clear();

    {
        veld::client::KioskKeyGuard guard;
        REQUIRE(guard.installed());
        REQUIRE(press({VK_LWIN}));
        REQUIRE(press({VK_RWIN}));
        REQUIRE(press({VK_MENU, VK_TAB}));
        REQUIRE(press({VK_MENU, VK_ESCAPE}));
        REQUIRE(press({VK_CONTROL, VK_ESCAPE}));
        REQUIRE(press({VK_CONTROL, VK_SHIFT, VK_ESCAPE}));
        REQUIRE(press({'A'}));
        REQUIRE(press({VK_TAB}));
        REQUIRE(press({kMarker}));
        REQUIRE(observer.waitFor(kMarker));
        CHECK_FALSE(observer.saw(VK_LWIN));
        CHECK_FALSE(observer.saw(VK_RWIN));
        CHECK_FALSE(observer.saw(VK_ESCAPE));
        // Only the plain Tab came through, not the one with Alt.
        CHECK(observer.count(VK_TAB) == 1);
        CHECK(observer.saw('A'));
        CHECK(observer.saw(VK_MENU));  // Alt and Ctrl themselves are ordinary keys
        CHECK(observer.saw(VK_CONTROL));
    }
    observer.clear();

    // Removed with the guard: the Windows key gets through again.
    REQUIRE(press({VK_LWIN}));
    REQUIRE(press({kMarker}));
    REQUIRE(observer.waitFor(kMarker));
    CHECK(observer.saw(VK_LWIN));
}

TEST_CASE(
    "on Windows the kiosk covers the primary monitor, borderless and topmost, and gives "
    "the window back as it was") {
    REQUIRE(glfwInit());
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    GLFWwindow* window = glfwCreateWindow(640, 480, "Veld", nullptr, nullptr);
    REQUIRE(window);
    HWND handle = glfwGetWin32Window(window);
    GLFWmonitor* monitor = glfwGetPrimaryMonitor();
    REQUIRE(monitor);
    const GLFWvidmode* mode = glfwGetVideoMode(monitor);
    REQUIRE(mode);
    int left = 0, top = 0;
    glfwGetMonitorPos(monitor, &left, &top);
    int x = 0, y = 0, w = 0, h = 0;
    {
        veld::client::KioskLock lock(window);
        glfwPollEvents();
        CHECK(lock.keysHeld());
        glfwGetWindowPos(window, &x, &y);
        glfwGetWindowSize(window, &w, &h);
        CHECK(x == left);
        CHECK(y == top);
        CHECK(w == mode->width);
        CHECK(h == mode->height);
        CHECK(glfwGetWindowAttrib(window, GLFW_DECORATED) == GLFW_FALSE);
        CHECK((GetWindowLongW(handle, GWL_EXSTYLE) & WS_EX_TOPMOST) != 0);
        // Another window takes the front; the kiosk's next frame takes it back.
        GLFWwindow* other = glfwCreateWindow(200, 200, "other", nullptr, nullptr);
        REQUIRE(other);
        HWND otherHandle = glfwGetWin32Window(other);
        SetForegroundWindow(otherHandle);
        glfwPollEvents();
        REQUIRE(GetForegroundWindow() == otherHandle);
        lock.keepInFront();
        glfwPollEvents();
        CHECK(GetForegroundWindow() == handle);
        CHECK((GetWindowLongW(handle, GWL_EXSTYLE) & WS_EX_TOPMOST) != 0);
        glfwDestroyWindow(other);
    }
    glfwPollEvents();
    glfwGetWindowSize(window, &w, &h);
    CHECK(w == 640);
    CHECK(h == 480);
    CHECK(glfwGetWindowAttrib(window, GLFW_DECORATED) == GLFW_TRUE);
    CHECK((GetWindowLongW(handle, GWL_EXSTYLE) & WS_EX_TOPMOST) == 0);
    glfwDestroyWindow(window);
    glfwTerminate();
}
#endif
