#include "target_log.hpp"

#include <cstdio>
#include <sstream>

#include <imgui.h>

#include <veld/platform/files.hpp>

#include "app.hpp"
#include "ui.hpp"

namespace veld::client {

namespace {

std::string oneLine(std::string s) {
    for (char& c : s) {
        if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    }
    return s;
}

}  // namespace

TargetLog::TargetLog(std::string path) : m_path(std::move(path)) {
    ui::setRecording(true);
}

void TargetLog::write(const App& app) {
    std::ostringstream out;
    const KioskState& k = app.kiosk;
    out << "state\tscreen=" << static_cast<int>(app.screen)
        << "\tphase=" << static_cast<int>(k.phase) << "\tpage=" << k.view.page
        << "\tnumber=" << k.pageNumber << "\ttotal=" << k.pageTotal
        << "\tchanges=" << k.view.changes << "\tbusy=" << (app.busy() || k.saving ? 1 : 0)
        << "\ttheme=" << themeName(k.theme) << "\tkeypad=" << oneLine(k.view.keypadKey)
        << "\tmouse=" << (ImGui::GetIO().MouseDown[0] ? 1 : 0) << "\n";
    for (const auto& r : ui::recorded()) {
        out << (r.id.empty() ? "-" : oneLine(r.id)) << '\t' << r.min.x << '\t' << r.min.y << '\t'
            << r.max.x << '\t' << r.max.y << '\t' << (r.enabled ? 1 : 0) << '\t' << oneLine(r.text)
            << '\n';
    }
    std::string text = out.str();
    if (text == m_last) return;
    m_last = text;
    ++m_written;
    text = "frame\t" + std::to_string(m_written) + "\n" + text;
    // Whole or not at all, for the test reading it; not flushed to disk (it is rewritten on
    // every frame that changes, and worthless after a power cut).
    auto file = platform::AtomicFile::begin(m_path, platform::Access::Private, false);
    if (!file || !file->write(text)) return;
    (void)file->commit();
}

}  // namespace veld::client
