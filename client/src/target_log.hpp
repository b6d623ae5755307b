// `veld --targets FILE`: after every frame that changed, the screen's targets (test ids and
// rectangles), its texts and a line of kiosk state go to FILE, so that a test can drive the real
// window with mouse clicks at the targets' centres (tests/client/kiosk_window_test.cpp).
#pragma once

#include <string>

namespace veld::client {

class App;

class TargetLog {
  public:
    /// Turns the recording of targets on (ui::setRecording).
    explicit TargetLog(std::string path);
    /// Writes the frame just drawn when it differs from the last one written (atomically: a
    /// temporary file renamed over FILE, mode 0600: it may show what a respondent typed).
    void write(const App& app);

  private:
    std::string m_path;
    std::string m_last;
    long m_written = 0;
};

}  // namespace veld::client
