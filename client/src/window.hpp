// The window around a Dear ImGui program: GLFW with an OpenGL 3 context, Dear ImGui's GLFW and
// OpenGL 3 backends, and a PNG of what was drawn. Shared by `veld` and `veld-console`; the
// programs keep their own loops.
#pragma once

#include <memory>
#include <string>

struct GLFWwindow;

namespace veld::client {

class KioskLock;

struct WindowSetup {
    std::string program;  // for messages: "veld: ..."
    std::string title;
    int width = 1280;
    int height = 800;
    float scale = 0;    // <= 0: the screen's content scale (1 to 3)
    bool vsync = true;  // off for benchmarks
};

class Window {
  public:
    /// Opens the window and a Dear ImGui context bound to it (light style). Null, with a message
    /// on stderr, when there is no display or no OpenGL 3.
    static std::unique_ptr<Window> open(const WindowSetup& setup);
    ~Window();
    Window(const Window&) = delete;
    Window& operator=(const Window&) = delete;

    [[nodiscard]] GLFWwindow* handle() const { return m_window; }
    /// The scale chosen at open (from the setup or the screen).
    [[nodiscard]] float scale() const { return m_scale; }
    /// Starts a Dear ImGui frame (backends first).
    void beginFrame();
    /// Ends the Dear ImGui frame and draws it into the back buffer.
    void render();
    void present();
    /// Writes the back buffer (as render() left it) to a PNG file.
    [[nodiscard]] bool screenshot(const std::string& path) const;
    /// Kiosk mode's hold on the window (kiosk_lock.hpp): on, full screen on the primary monitor
    /// (on Windows also topmost, kept in front each frame, with the switching keys held); off,
    /// the window as it was before.
    void setKiosk(bool on);

  private:
    Window() = default;
    GLFWwindow* m_window = nullptr;
    float m_scale = 1;
    int m_fbWidth = 0;
    int m_fbHeight = 0;
    std::unique_ptr<KioskLock> m_kiosk;
};

/// An RGBA picture (`width` x `height`, rows top down) as an OpenGL texture for ImGui::Image;
/// 0 when no OpenGL context is current. freeTexture does nothing without a context (the window
/// is gone, and its textures with it).
unsigned uploadTexture(const unsigned char* rgba, int width, int height);
void freeTexture(unsigned texture);

/// CPU time of the whole process (every thread, the OpenGL driver's too), or of this thread.
double processCpuSeconds();
double threadCpuSeconds();

}  // namespace veld::client
