#include "ui_driver.hpp"

#include <chrono>
#include <thread>

#include <doctest/doctest.h>

namespace veld::client::testing {

Driver::Driver(float height) {
    IMGUI_CHECKVERSION();
    m_context = ImGui::CreateContext();
    ImGui::SetCurrentContext(m_context);
    ImGuiIO& io = ImGui::GetIO();
    io.DisplaySize = ImVec2(1280, height);
    io.DeltaTime = 1.0f / 60.0f;
    io.IniFilename = nullptr;
    ImGui::StyleColorsLight();
    ui::setRecording(true);
}

Driver::~Driver() {
    ui::setRecording(false);
    ImGui::DestroyContext(m_context);
}

UiDriver::UiDriver(const std::string& storePath, const std::string& uiLanguage,
                   const std::string& fontDir, float height)
    : Driver(height) {
    AppOptions options;
    options.storePath = storePath;
    options.uiLanguage = uiLanguage;
    options.fontDir = fontDir;
    options.nowMs = [this] { return nowMs; };
    m_app = std::make_unique<App>(std::move(options));
    settle();
}

UiDriver::~UiDriver() {
    m_app.reset();
}

ConsoleDriver::ConsoleDriver(sync::Connection connection, const std::string& exportDir,
                             float height)
    : Driver(height) {
    console::ConsoleOptions options;
    options.connection = std::move(connection);
    options.exportDir = exportDir;
    options.nowMs = [this] { return nowMs; };
    m_console = std::make_unique<console::Console>(std::move(options));
    settle();
}

ConsoleDriver::ConsoleDriver(console::ConsoleOptions options, float height) : Driver(height) {
    options.nowMs = [this] { return nowMs; };
    m_console = std::make_unique<console::Console>(std::move(options));
}

ConsoleDriver::~ConsoleDriver() {
    m_console.reset();
}

void Driver::frame() {
    ImGuiIO& io = ImGui::GetIO();
    io.DeltaTime = 1.0f / 60.0f;
    nowMs += 16;
    ImGui::NewFrame();
    draw();
    ImGui::Render();
    m_last = ui::recorded();
}

void Driver::settle() {
    for (int i = 0; i < 400; ++i) {
        drain();
        frame();
        if (!busy()) {
            frame();
            if (!busy()) return;
        }
    }
    FAIL("the program's background work did not finish");
}

void Driver::framesUntilIdle() {
    for (int i = 0; i < 3000; ++i) {
        frame();
        if (!busy()) {
            frame();
            if (!busy()) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL("the program's background work did not reach the screen");
}

void Driver::advance(std::int64_t ms) {
    nowMs += ms;
    frame();
    settle();
}

const ui::Recorded* Driver::item(std::string_view id) const {
    for (const auto& r : m_last) {
        if (r.id == id) return &r;
    }
    return nullptr;
}

bool Driver::has(std::string_view id) const {
    return item(id) != nullptr;
}

void Driver::click(std::string_view id) {
    const ui::Recorded* r = item(id);
    if (!r) FAIL("no widget '" << std::string(id) << "' on screen");
    if (!r->enabled) FAIL("widget '" << std::string(id) << "' is disabled");
    if (r->max.y > ImGui::GetIO().DisplaySize.y || r->min.y < 0) {
        FAIL("widget '" << std::string(id) << "' is outside the display");
    }
    const ImVec2 at((r->min.x + r->max.x) / 2, (r->min.y + r->max.y) / 2);
    ImGuiIO& io = ImGui::GetIO();
    io.MousePos = at;
    frame();
    io.MouseDown[0] = true;
    frame();
    io.MouseDown[0] = false;
    frame();
    settle();
}

void Driver::type(std::string_view id, std::string_view text) {
    click(id);
    ImGui::GetIO().AddInputCharactersUTF8(std::string(text).c_str());
    frame();
    settle();
}

void Driver::clearText(std::string_view id) {
    click(id);
    // A headless context has no backend to map keys: use two free slots of KeysDown.
    ImGuiIO& io = ImGui::GetIO();
    constexpr int kKeyA = 1, kKeyBackspace = 2;
    io.KeyMap[ImGuiKey_A] = kKeyA;
    io.KeyMap[ImGuiKey_Backspace] = kKeyBackspace;
    io.KeyCtrl = true;
    io.KeysDown[kKeyA] = true;
    frame();
    io.KeysDown[kKeyA] = false;
    io.KeyCtrl = false;
    frame();
    io.KeysDown[kKeyBackspace] = true;
    frame();
    io.KeysDown[kKeyBackspace] = false;
    frame();
    settle();
}

std::vector<std::string> Driver::texts() const {
    std::vector<std::string> out;
    for (const auto& r : m_last)
        out.push_back(r.text);
    return out;
}

bool Driver::showsText(std::string_view needle) const {
    for (const auto& r : m_last) {
        if (r.text.find(needle) != std::string::npos) return true;
    }
    return false;
}

std::vector<std::string> Driver::ids(std::string_view prefix) const {
    std::vector<std::string> out;
    for (const auto& r : m_last) {
        if (r.id.rfind(prefix, 0) == 0) out.push_back(r.id);
    }
    return out;
}

}  // namespace veld::client::testing
