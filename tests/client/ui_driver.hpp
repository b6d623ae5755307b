// Drives the client headless: a Dear ImGui context with a fixed display and no window, input fed
// through ImGuiIO, and the App drawing real screens over a real device store. Widgets are found
// by their test ids (see client/src/ui.hpp) and "clicked" by moving the mouse there, pressing and
// releasing over separate frames, as a person would.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <imgui.h>

#include "app.hpp"
#include "ui.hpp"

namespace veld::client::testing {

class UiDriver {
  public:
    explicit UiDriver(const std::string& storePath, const std::string& uiLanguage = "nl",
                      const std::string& fontDir = {}, float height = 12000);
    ~UiDriver();
    UiDriver(const UiDriver&) = delete;
    UiDriver& operator=(const UiDriver&) = delete;

    App& app() { return *m_app; }
    /// Draws one frame (time moves on 16 ms).
    void frame();
    /// Frames until background work is done and its results are on screen.
    void settle();
    /// Moves the clock on (idle timers) and draws a frame.
    void advance(std::int64_t ms);

    [[nodiscard]] bool has(std::string_view id) const;
    [[nodiscard]] const ui::Recorded* item(std::string_view id) const;
    /// Clicks the widget with this test id; fails the test when it is not on screen or disabled.
    void click(std::string_view id);
    /// Clicks a text field and types into it.
    void type(std::string_view id, std::string_view text);
    /// Every text drawn in the last frame (labels, paragraphs, field contents).
    [[nodiscard]] std::vector<std::string> texts() const;
    [[nodiscard]] bool showsText(std::string_view needle) const;
    /// Ids of the last frame's widgets starting with `prefix`.
    [[nodiscard]] std::vector<std::string> ids(std::string_view prefix) const;

    std::int64_t nowMs = 1'790'000'000'000;  // the App's wall clock

  private:
    ImGuiContext* m_context = nullptr;
    std::unique_ptr<App> m_app;
    std::vector<ui::Recorded> m_last;
};

}  // namespace veld::client::testing
