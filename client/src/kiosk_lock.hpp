// The kiosk's hold on the screen and the keyboard. Under Linux the kiosk runs inside the cage
// compositor, which already keeps other programs away: the window only goes full screen. On
// Windows the program holds on itself: a borderless topmost window over the whole primary
// monitor, brought back to the front when it loses it, and a low-level keyboard hook that keeps
// the shell's switching keys from Windows. What a program cannot hold (Ctrl+Alt+Del, signing
// out) needs a Windows kiosk policy (docs/windows.md, "Kiosk on Windows").
#pragma once

#include <memory>

struct GLFWwindow;

namespace veld::client {

/// Windows' virtual-key codes of the keys the kiosk keeps from the shell.
namespace vk {
inline constexpr unsigned kTab = 0x09;
inline constexpr unsigned kEscape = 0x1B;
inline constexpr unsigned kLeftWindows = 0x5B;
inline constexpr unsigned kRightWindows = 0x5C;
}  // namespace vk

/// Whether the kiosk swallows a key (press or release) with these modifiers held: the Windows
/// keys (Start menu, and every Windows+key shortcut Windows lets a program see), Alt+Tab and
/// Alt+Shift+Tab (switching programs), Alt+Esc (the next window), Ctrl+Esc (Start menu) and
/// Ctrl+Shift+Esc (Task Manager). Everything else reaches the kiosk as usual.
constexpr bool kioskSwallowsKey(unsigned virtualKey, bool altDown, bool ctrlDown) {
    if (virtualKey == vk::kLeftWindows || virtualKey == vk::kRightWindows) return true;
    if (virtualKey == vk::kTab) return altDown;
    if (virtualKey == vk::kEscape) return altDown || ctrlDown;
    return false;
}

/// Keeps the keys kioskSwallowsKey names from Windows while it lives: a low-level keyboard hook
/// (WH_KEYBOARD_LL) on a thread of its own, so it answers at once whatever the frame loop does.
/// Removed when it is destroyed. On Linux nothing is installed (the compositor holds the keys).
class KioskKeyGuard {
  public:
    KioskKeyGuard();
    ~KioskKeyGuard();
    KioskKeyGuard(const KioskKeyGuard&) = delete;
    KioskKeyGuard& operator=(const KioskKeyGuard&) = delete;
    /// Whether the hook is in place (false on Linux, or when Windows refused it).
    [[nodiscard]] bool installed() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m;
};

/// The kiosk's window while kiosk mode is on: full screen on the primary monitor (on Windows
/// borderless, topmost and with the keyboard guard); destroying it gives back the window as it
/// was (size, position, frame).
class KioskLock {
  public:
    explicit KioskLock(GLFWwindow* window);
    ~KioskLock();
    KioskLock(const KioskLock&) = delete;
    KioskLock& operator=(const KioskLock&) = delete;
    /// Called once a frame: on Windows, brings the window back to the front (topmost, focused)
    /// when another program took it.
    void keepInFront();
    /// Whether the keyboard hook is in place (Windows only).
    [[nodiscard]] bool keysHeld() const { return m_keys && m_keys->installed(); }

  private:
    GLFWwindow* m_window;
    int m_x = 0, m_y = 0, m_width = 0, m_height = 0;  // the window before
    std::unique_ptr<KioskKeyGuard> m_keys;
};

}  // namespace veld::client
