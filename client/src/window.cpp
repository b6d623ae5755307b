#include "window.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>
#include <stb_image_write.h>

#include "kiosk_lock.hpp"
#include "leak_check.hpp"

// OpenGL 1.2; Windows' own gl.h stops at 1.1.
#ifndef GL_CLAMP_TO_EDGE
#define GL_CLAMP_TO_EDGE 0x812F
#endif

namespace veld::client {

std::unique_ptr<Window> Window::open(const WindowSetup& setup) {
    static std::string program;
    program = setup.program;
    glfwSetErrorCallback([](int code, const char* text) {
        std::fprintf(stderr, "%s: window system error %d: %s\n", program.c_str(), code, text);
    });
    if (!glfwInit()) {
        std::fprintf(stderr, "%s: no display available (is DISPLAY set?)\n", program.c_str());
        return nullptr;
    }
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
    GLFWwindow* handle =
        glfwCreateWindow(setup.width, setup.height, setup.title.c_str(), nullptr, nullptr);
    if (!handle) {
        std::fprintf(stderr, "%s: could not open an OpenGL 3 window\n", program.c_str());
        glfwTerminate();
        return nullptr;
    }
    std::unique_ptr<Window> w(new Window());
    w->m_window = handle;
    glfwMakeContextCurrent(handle);
    glfwSwapInterval(setup.vsync ? 1 : 0);
    w->m_scale = setup.scale;
    if (w->m_scale <= 0) {
        float sx = 1, sy = 1;
        glfwGetWindowContentScale(handle, &sx, &sy);
        w->m_scale = std::clamp(sx, 1.0f, 3.0f);
    }
    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGui::StyleColorsLight();
    ImGui_ImplGlfw_InitForOpenGL(handle, true);
    ImGui_ImplOpenGL3_Init("#version 130");
    return w;
}

Window::~Window() {
    m_kiosk.reset();
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    keepGraphicsDriversLoaded();
    glfwDestroyWindow(m_window);
    glfwTerminate();
}

void Window::setKiosk(bool on) {
    if (on && !m_kiosk) m_kiosk = std::make_unique<KioskLock>(m_window);
    if (!on) m_kiosk.reset();
}

void Window::beginFrame() {
    if (m_kiosk) m_kiosk->keepInFront();
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
}

void Window::render() {
    ImGui::Render();
    glfwGetFramebufferSize(m_window, &m_fbWidth, &m_fbHeight);
    glViewport(0, 0, m_fbWidth, m_fbHeight);
    glClearColor(0.94f, 0.94f, 0.94f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
}

void Window::present() {
    glfwSwapBuffers(m_window);
}

bool Window::screenshot(const std::string& path) const {
    const int w = m_fbWidth;
    const int h = m_fbHeight;
    if (w <= 0 || h <= 0) return false;
    const std::size_t row = static_cast<std::size_t>(w) * 4;
    std::vector<unsigned char> pixels(row * static_cast<std::size_t>(h));
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    // OpenGL's rows start at the bottom; PNG's at the top.
    std::vector<unsigned char> flipped(pixels.size());
    for (int y = 0; y < h; ++y) {
        std::memcpy(&flipped[static_cast<std::size_t>(y) * row],
                    &pixels[static_cast<std::size_t>(h - 1 - y) * row], row);
    }
    for (std::size_t i = 3; i < flipped.size(); i += 4)
        flipped[i] = 255;
    return stbi_write_png(path.c_str(), w, h, 4, flipped.data(), static_cast<int>(row)) != 0;
}

unsigned uploadTexture(const unsigned char* rgba, int width, int height) {
    if (!glfwGetCurrentContext() || !rgba || width <= 0 || height <= 0) return 0;
    GLuint texture = 0;
    glGenTextures(1, &texture);
    glBindTexture(GL_TEXTURE_2D, texture);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
    return texture;
}

void freeTexture(unsigned texture) {
    if (texture == 0 || !glfwGetCurrentContext()) return;
    const GLuint name = texture;
    glDeleteTextures(1, &name);
}

namespace {
double cpuSeconds(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

double processCpuSeconds() {
    return cpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
}

double threadCpuSeconds() {
    return cpuSeconds(CLOCK_THREAD_CPUTIME_ID);
}

}  // namespace veld::client
