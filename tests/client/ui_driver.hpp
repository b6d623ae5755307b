// Drives the client headless: a Dear ImGui context with a fixed display and no window, input fed
// through ImGuiIO, and the App drawing real screens over a real device store. Widgets are found
// by their test ids (see client/src/ui.hpp) and "clicked" by moving the mouse there, pressing and
// releasing over separate frames, as a person would.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <imgui.h>

#include "app.hpp"
#include "console/console.hpp"
#include "ui.hpp"

namespace veld::client::testing {

/// A headless Dear ImGui context with a fixed display, and what a person does to it. A program's
/// driver says how it draws a frame and when its background work is done.
class Driver {
  public:
    explicit Driver(float height);
    virtual ~Driver();
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;

    /// Draws one frame (time moves on 16 ms).
    void frame();
    /// Frames until background work is done and its results are on screen.
    void settle();
    /// The same by drawing frames only, as the real program does (settle() also drains the
    /// workers): what background work hands back must reach the screen through frame().
    void framesUntilIdle();
    /// Moves the clock on (idle timers) and draws a frame.
    void advance(std::int64_t ms);

    [[nodiscard]] bool has(std::string_view id) const;
    [[nodiscard]] const ui::Recorded* item(std::string_view id) const;
    /// Clicks the widget with this test id; fails the test when it is not on screen or disabled.
    void click(std::string_view id);
    /// Clicks a text field and types into it.
    void type(std::string_view id, std::string_view text);
    /// Clicks a text field and empties it (select all, then backspace), as a person would.
    void clearText(std::string_view id);
    /// Every text drawn in the last frame (labels, paragraphs, field contents).
    [[nodiscard]] std::vector<std::string> texts() const;
    [[nodiscard]] bool showsText(std::string_view needle) const;
    /// Ids of the last frame's widgets starting with `prefix`.
    [[nodiscard]] std::vector<std::string> ids(std::string_view prefix) const;

    std::int64_t nowMs = 1'790'000'000'000;  // the program's wall clock

  protected:
    virtual void draw() = 0;
    [[nodiscard]] virtual bool busy() const = 0;
    virtual void drain() = 0;

  private:
    ImGuiContext* m_context = nullptr;
    std::vector<ui::Recorded> m_last;
};

/// The wall clock in milliseconds since 1970 (for screens that compare times with now).
inline std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Points the media scan (sync::removableMediaRoots) at a folder of the test's own for as long
/// as it lives.
class MediaRoots {
  public:
    explicit MediaRoots(const std::string& roots) {
        if (const char* saved = std::getenv("VELD_MEDIA_ROOTS")) m_saved = saved;
        m_had = std::getenv("VELD_MEDIA_ROOTS") != nullptr;
        ::setenv("VELD_MEDIA_ROOTS", roots.c_str(), 1);
    }
    ~MediaRoots() {
        if (m_had) {
            ::setenv("VELD_MEDIA_ROOTS", m_saved.c_str(), 1);
        } else {
            ::unsetenv("VELD_MEDIA_ROOTS");
        }
    }
    MediaRoots(const MediaRoots&) = delete;
    MediaRoots& operator=(const MediaRoots&) = delete;

  private:
    std::string m_saved;
    bool m_had = false;
};

/// The form client's App over a device store.
class UiDriver : public Driver {
  public:
    explicit UiDriver(const std::string& storePath, const std::string& uiLanguage = "nl",
                      const std::string& fontDir = {}, float height = 12000);
    ~UiDriver() override;

    App& app() { return *m_app; }

  protected:
    void draw() override { m_app->frame(); }
    [[nodiscard]] bool busy() const override { return m_app->busy(); }
    void drain() override { m_app->drain(); }

  private:
    std::unique_ptr<App> m_app;
};

/// Central staff's console against a collector.
class ConsoleDriver : public Driver {
  public:
    explicit ConsoleDriver(sync::Connection connection, const std::string& exportDir = {},
                           float height = 3000);
    /// A console made with these options (its clock is the driver's); nothing drawn yet.
    explicit ConsoleDriver(console::ConsoleOptions options, float height = 3000);
    ~ConsoleDriver() override;

    console::Console& console() { return *m_console; }

  protected:
    void draw() override { m_console->frame(); }
    [[nodiscard]] bool busy() const override { return m_console->busy(); }
    void drain() override { m_console->drain(); }

  private:
    std::unique_ptr<console::Console> m_console;
};

}  // namespace veld::client::testing
