// Shaped text in a real window: the client's own window, fonts and widgets in an X server of
// their own (xvfb-run), with Mesa's software renderer. What the
// widgets draw (HarfBuzz glyph ids and the screen positions of the glyphs, recorded per frame) is
// compared with the output of HarfBuzz's own `hb-shape` program on the same font file at the same
// size, run by run; wrapped right-to-left paragraphs, text typed into a field with xdotool, and
// the glyph coverage of the parents' survey and of the kiosk's own messages are checked; and
// screenshots are written to the build tree (VELD_SCREENSHOT_DIR).
//
// Without a display the program runs itself again under xvfb-run; without xvfb-run it says so
// loudly and exits with 77, which ctest reports as skipped, never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include "shaping.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <GLFW/glfw3.h>
#include <doctest/doctest.h>
#include <imgui.h>
#include <unistd.h>

#include "fonts.hpp"
#include "i18n.hpp"
#include "support/test_support.hpp"
#include "text.hpp"
#include "ui.hpp"
#include "window.hpp"

namespace {

namespace fs = std::filesystem;
using veld::client::FontSet;
using veld::client::M;
using veld::client::Window;
namespace ui = veld::client::ui;
namespace shaping = veld::client::shaping;

struct Fixture {
    std::unique_ptr<Window> window;
    FontSet fonts;
};

Fixture& fixture() {
    static Fixture f = [] {
        Fixture made;
        veld::client::WindowSetup setup;
        setup.program = "veld-shaping-tests";
        setup.title = "veld-shaping-tests";
        setup.width = 1280;
        setup.height = 800;
        setup.scale = 1;
        setup.vsync = false;
        made.window = Window::open(setup);
        if (!made.window) throw std::runtime_error("no window");
        ImGui::GetIO().IniFilename = nullptr;  // no imgui.ini in the working directory
        const auto start = std::chrono::steady_clock::now();
        made.fonts = FontSet::load(1);
        const ImFontAtlas& atlas = *ImGui::GetIO().Fonts;
        MESSAGE("fonts loaded in "
                << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             start)
                       .count()
                << " ms; atlas " << atlas.TexWidth << "x" << atlas.TexHeight << ", "
                << atlas.CustomRects.Size << " shaped glyphs of their own");
        ui::setRecording(true);
        return made;
    }();
    return f;
}

/// Draws one frame with `body` in a window filling the screen; what was drawn as shaped text.
/// With `png`, the frame is also written to that file.
std::vector<shaping::DrawnText> frame(const std::function<void()>& body,
                                      const std::string& png = {}) {
    Fixture& f = fixture();
    glfwPollEvents();
    f.window->beginFrame();
    ui::beginFrame();
    ImGui::SetNextWindowPos(ImVec2(0, 0));
    ImGui::SetNextWindowSize(ImGui::GetIO().DisplaySize);
    ImGui::Begin("##shaping", nullptr, ImGuiWindowFlags_NoDecoration);
    body();
    ImGui::End();
    f.window->render();
    if (!png.empty()) {
        fs::create_directories(VELD_SCREENSHOT_DIR);
        REQUIRE(f.window->screenshot(png));
    }
    f.window->present();
    return ui::recordedText();
}

const shaping::DrawnText* findText(const std::vector<shaping::DrawnText>& texts,
                                   std::string_view logical, std::string_view id = {}) {
    for (const auto& t : texts) {
        if (t.logical == logical && (id.empty() || t.id == id)) return &t;
    }
    return nullptr;
}

// --- hb-shape ---

struct HbGlyph {
    long g = 0, ax = 0, ay = 0, dx = 0, dy = 0, xb = 0, yb = 0, w = 0, h = 0;
};

std::vector<HbGlyph> hbShape(const shaping::DrawnRun& run) {
    const auto r = veld::test::runProcess(
        {"/usr/bin/hb-shape", "--font-size=" + std::to_string(run.hbScale),
         std::string("--direction=") + (run.rtl ? "rtl" : "ltr"), "--script=" + run.script,
         "--language=" + run.language, "--no-glyph-names", "--show-extents", "--output-format=json",
         "--text=" + run.text, run.font});
    INFO("hb-shape: " << r.err);
    REQUIRE(r.exitCode == 0);
    std::vector<HbGlyph> out;
    const std::regex object(R"(\{([^}]*)\})");
    const std::regex field(R"re("(\w+)":(-?\d+))re");
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), object);
         it != std::sregex_iterator(); ++it) {
        const std::string body = (*it)[1];
        std::map<std::string, long> v;
        for (auto f = std::sregex_iterator(body.begin(), body.end(), field);
             f != std::sregex_iterator(); ++f)
            v[(*f)[1]] = std::stol((*f)[2]);
        out.push_back(
            {v["g"], v["ax"], v["ay"], v["dx"], v["dy"], v["xb"], v["yb"], v["w"], v["h"]});
    }
    return out;
}

/// Ink box of a glyph on screen, from hb-shape's extents and the drawn origin.
struct Box {
    float x0, y0, x1, y1;
};

Box inkBox(const shaping::DrawnGlyph& g, const HbGlyph& hb, float scale) {
    const float s = scale / 64.0f;
    const float x0 = g.origin.x + static_cast<float>(hb.xb) * s;
    const float y0 = g.origin.y - static_cast<float>(hb.yb) * s;
    return {x0, y0, x0 + static_cast<float>(hb.w) * s, y0 - static_cast<float>(hb.h) * s};
}

/// The glyphs and positions drawn for `t` are hb-shape's, run by run, laid side by side from the
/// line's left edge. Returns hb-shape's glyphs per run.
std::vector<std::vector<HbGlyph>> checkMatchesHbShape(const shaping::DrawnText& t) {
    INFO("text: " << t.logical);
    std::vector<std::vector<HbGlyph>> all;
    long pen = 0;  // 1/64 px at the font's size
    for (const auto& run : t.runs) {
        INFO("run: " << run.text << " (" << run.font << ", " << run.script << ")");
        const std::vector<HbGlyph> hb = hbShape(run);
        REQUIRE(hb.size() == run.glyphs.size());
        for (std::size_t i = 0; i < hb.size(); ++i) {
            const auto& g = run.glyphs[i];
            CHECK(g.id == hb[i].g);
            CHECK(g.ax == hb[i].ax);
            CHECK(g.ay == hb[i].ay);
            CHECK(g.dx == hb[i].dx);
            CHECK(g.dy == hb[i].dy);
            const float x = t.pos.x + static_cast<float>(pen + hb[i].dx) / 64.0f * run.scale;
            const float y = t.pos.y - static_cast<float>(hb[i].dy) / 64.0f * run.scale;
            CHECK(std::fabs(g.origin.x - x) < 0.01f);
            CHECK(std::fabs(g.origin.y - y) < 0.01f);
            CHECK(g.id != 0);
            pen += hb[i].ax;
        }
        all.push_back(hb);
    }
    CHECK(std::fabs(static_cast<float>(pen) / 64.0f * (t.runs.empty() ? 1 : t.runs[0].scale) -
                    t.width) < 0.05f);
    return all;
}

/// Index of the run holding logical code point `index` of the line.
int runHolding(const shaping::DrawnText& t, std::size_t index) {
    const std::u32string all = veld::client::text::decodeUtf8(t.logical);
    // The runs' texts in logical order tile the line; find by position of each run's text.
    for (std::size_t r = 0; r < t.runs.size(); ++r) {
        const std::u32string run = veld::client::text::decodeUtf8(t.runs[r].text);
        for (std::size_t at = all.find(run); at != std::u32string::npos;
             at = all.find(run, at + 1)) {
            if (index >= at && index < at + run.size()) return static_cast<int>(r);
        }
    }
    return -1;
}

int runWithText(const shaping::DrawnText& t, std::string_view text) {
    for (std::size_t r = 0; r < t.runs.size(); ++r) {
        if (t.runs[r].text.find(text) != std::string::npos) return static_cast<int>(r);
    }
    return -1;
}

float runLeft(const shaping::DrawnText& t, int r) {
    return t.runs[static_cast<std::size_t>(r)].glyphs.front().origin.x;
}

// Phrases (logical order).
const std::string kLamAlef = "لا";
const std::string kMarks = "لا بُدَّ مِنْ مُشارَكَةِ الوالِدَيْن";
const std::string kNumbers = "وُلد طفلي في عام 2026 وعمره 10 سنوات";
const std::string kSchool = "يدرس ابني في Het Baken College منذ سنتين";
const std::string kTigrinya = "ሰላም፡ ከመይ ኣለኹም።";
const std::string kParagraph =
    "نشكركم على مشاركتكم في هذا الاستبيان. إجاباتكم تساعد المدرسة على فهم ما يحتاجه الأولياء "
    "لمساعدة أطفالهم في اختيار الدراسة والمهنة.";

}  // namespace

TEST_CASE("shaped Arabic and Tigrinya are drawn with hb-shape's glyphs and positions") {
    Fixture& f = fixture();
    const std::vector<std::string> rtlPhrases = {kLamAlef, kMarks, kNumbers, kSchool};
    for (ImFont* font : {f.fonts.normal, f.fonts.large, f.fonts.larger}) {
        for (float scale : {1.0f, 1.25f}) {
            INFO("font size " << font->FontSize << ", window scale " << scale);
            const auto texts = frame([&] {
                ImGui::PushFont(font);
                ImGui::SetWindowFontScale(scale);
                for (const auto& p : rtlPhrases)
                    ui::paragraph(p, true);
                ui::paragraph(kTigrinya, false);
                ImGui::SetWindowFontScale(1);
                ImGui::PopFont();
            });
            for (const auto& p : rtlPhrases) {
                const shaping::DrawnText* t = findText(texts, p);
                REQUIRE_MESSAGE(t != nullptr, p);
                REQUIRE(!t->runs.empty());
                CHECK(t->runs[0].scale == doctest::Approx(scale));
                checkMatchesHbShape(*t);
                // Right-aligned in the window.
                CHECK(t->pos.x + t->width == doctest::Approx(ImGui::GetIO().DisplaySize.x -
                                                             ImGui::GetStyle().WindowPadding.x)
                                                 .epsilon(0.002));
            }
            const shaping::DrawnText* ti = findText(texts, kTigrinya);
            REQUIRE(ti != nullptr);
            checkMatchesHbShape(*ti);
            // Ge'ez from the Ethiopic font, its word separator and full stop included.
            std::size_t glyphs = 0;
            for (const auto& run : ti->runs) {
                CHECK(run.script == "Ethi");
                CHECK(run.font.find("Abyssinica") != std::string::npos);
                glyphs += run.glyphs.size();
            }
            CHECK(glyphs == veld::client::text::decodeUtf8(kTigrinya).size());
        }
    }
}

TEST_CASE("lam-alef is one ligature and marks sit above or below their letters") {
    const auto texts = frame([&] {
        ImGui::PushFont(fixture().fonts.large);
        ui::paragraph(kLamAlef, true);
        ui::paragraph(kMarks, true);
        ImGui::PopFont();
    });
    const shaping::DrawnText* lamAlef = findText(texts, kLamAlef);
    REQUIRE(lamAlef != nullptr);
    REQUIRE(lamAlef->runs.size() == 1);
    CHECK(lamAlef->runs[0].glyphs.size() == 1);
    CHECK(lamAlef->runs[0].font.find("NotoSansArabic") != std::string::npos);

    const shaping::DrawnText* marks = findText(texts, kMarks);
    REQUIRE(marks != nullptr);
    const auto hb = checkMatchesHbShape(*marks);
    int checked = 0;
    for (std::size_t r = 0; r < marks->runs.size(); ++r) {
        const auto& glyphs = marks->runs[r].glyphs;
        for (std::size_t i = 0; i < glyphs.size(); ++i) {
            if (glyphs[i].ax != 0 || hb[r][i].w == 0) continue;  // not a mark
            // In right-to-left output a mark comes just before its letter.
            std::size_t base = i + 1;
            while (base < glyphs.size() && glyphs[base].ax == 0)
                ++base;
            REQUIRE(base < glyphs.size());
            const float scale = marks->runs[r].scale;
            const Box m = inkBox(glyphs[i], hb[r][i], scale);
            const Box b = inkBox(glyphs[base], hb[r][base], scale);
            INFO("mark glyph " << glyphs[i].id << " over letter glyph " << glyphs[base].id);
            // Over the letter horizontally, and above or below it, not beside it.
            CHECK(std::min(m.x1, b.x1) - std::max(m.x0, b.x0) > 0);
            const bool above = m.y1 <= b.y0 + 0.25f * (b.y1 - b.y0);
            const bool below = m.y0 >= b.y1 - 0.25f * (b.y1 - b.y0);
            CHECK((above || below));
            ++checked;
        }
    }
    CHECK(checked >= 8);  // damma, shadda with fatha, kasra, sukun, ...
}

TEST_CASE("mixed lines: numbers and a Latin school name keep their place in Arabic") {
    const auto texts = frame([&] {
        ui::paragraph(kNumbers, true);
        ui::paragraph(kSchool, true);
    });
    const shaping::DrawnText* numbers = findText(texts, kNumbers);
    REQUIRE(numbers != nullptr);
    const int year = runWithText(*numbers, "2026");
    const int age = runWithText(*numbers, "10");
    REQUIRE(year >= 0);
    REQUIRE(age >= 0);
    CHECK(numbers->runs[static_cast<std::size_t>(year)].text == "2026");
    CHECK_FALSE(numbers->runs[static_cast<std::size_t>(year)].rtl);
    CHECK_FALSE(numbers->runs[static_cast<std::size_t>(age)].rtl);
    // Digits left to right inside their run.
    const auto& digits = numbers->runs[static_cast<std::size_t>(year)].glyphs;
    for (std::size_t i = 1; i < digits.size(); ++i)
        CHECK(digits[i].origin.x > digits[i - 1].origin.x);
    // Read from the right: the first word, then 2026, then 10, then the last word.
    const int first = runHolding(*numbers, 0);
    const int last = runHolding(*numbers, veld::client::text::decodeUtf8(kNumbers).size() - 1);
    REQUIRE(first >= 0);
    REQUIRE(last >= 0);
    CHECK(runLeft(*numbers, first) > runLeft(*numbers, year));
    CHECK(runLeft(*numbers, year) > runLeft(*numbers, age));
    CHECK(runLeft(*numbers, age) > runLeft(*numbers, last));
    CHECK(first == static_cast<int>(numbers->runs.size()) - 1);
    CHECK(last == 0);

    const shaping::DrawnText* school = findText(texts, kSchool);
    REQUIRE(school != nullptr);
    const int name = runWithText(*school, "Het Baken College");
    REQUIRE(name >= 0);
    const auto& latin = school->runs[static_cast<std::size_t>(name)];
    CHECK(latin.text == "Het Baken College");
    CHECK_FALSE(latin.rtl);
    CHECK(latin.font.find("DejaVuSans") != std::string::npos);
    CHECK(runLeft(*school, runWithText(*school, "في")) > runLeft(*school, name));
    CHECK(runLeft(*school, name) > runLeft(*school, runWithText(*school, "منذ")));
}

TEST_CASE("a wrapped right-to-left paragraph keeps its first words on the first line") {
    const float width = 330;
    ImVec2 childMax;
    const auto texts = frame([&] {
        ImGui::BeginChild("narrow", ImVec2(width, 400));
        ui::paragraph(kParagraph, true);
        childMax = ImVec2(ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x, 0);
        ImGui::EndChild();
    });
    std::vector<const shaping::DrawnText*> lines;
    for (const auto& t : texts) {
        if (kParagraph.find(t.logical) != std::string::npos && !t.logical.empty())
            lines.push_back(&t);
    }
    REQUIRE(lines.size() >= 3);
    std::string joined;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i) joined += ' ';
        joined += lines[i]->logical;
        if (i) CHECK(lines[i]->pos.y > lines[i - 1]->pos.y);
        // Right-aligned, inside the column.
        CHECK(lines[i]->pos.x + lines[i]->width == doctest::Approx(childMax.x).epsilon(0.002));
        CHECK(lines[i]->width <= width);
        // Within each line the logical start is rightmost, the end leftmost.
        const int first = runHolding(*lines[i], 0);
        REQUIRE(first >= 0);
        CHECK(first == static_cast<int>(lines[i]->runs.size()) - 1);
        checkMatchesHbShape(*lines[i]);
    }
    CHECK(joined == kParagraph);
    CHECK(lines.front()->logical.rfind("نشكركم على", 0) == 0);
}

TEST_CASE("every text of the parents' survey and the kiosk's messages has its glyphs") {
    Fixture& f = fixture();
    // Sanity: a script with no font is reported.
    CHECK_FALSE(f.fonts.missingGlyphs("中文").empty());
    CHECK(f.fonts.missingGlyphs(kMarks).empty());
    // Every localized text of the form, per language (read straight from the JSON).
    const std::string json = veld::test::readFile(std::string(VELD_SOURCE_DIR) +
                                                  "/schemas/forms/vmbo_parent_survey.json");
    const std::regex localized(R"re(\{"lang":\s*"([a-z]+)",\s*"text":\s*"((?:[^"\\]|\\.)*)")re");
    std::map<std::string, int> perLanguage;
    for (auto it = std::sregex_iterator(json.begin(), json.end(), localized);
         it != std::sregex_iterator(); ++it) {
        std::string text = (*it)[2];
        text = std::regex_replace(text, std::regex(R"(\\n)"), "\n");
        text = std::regex_replace(text, std::regex(R"(\\(.))"), "$1");
        const std::string lang = (*it)[1];
        ++perLanguage[lang];
        const auto missing = f.fonts.missingGlyphs(text);
        CHECK_MESSAGE(missing.empty(), lang << ": " << text);
    }
    for (const char* lang : {"nl", "en", "tr", "ar", "pl", "ti"})
        CHECK(perLanguage[lang] > 50);
    // The kiosk's own messages in the seven languages.
    for (std::size_t i = 0; i < static_cast<std::size_t>(M::Count_); ++i) {
        for (const char* lang : {"nl", "en", "tr", "ar", "pl", "so", "ti"}) {
            const std::string_view text = veld::client::tr(static_cast<M>(i), lang);
            CHECK_MESSAGE(f.fonts.missingGlyphs(text).empty(), lang << ": " << text);
        }
    }
}

namespace {

/// Runs xdotool with `args` while the window handles its events and draws frames. Events are
/// read every millisecond: xdotool types a character it has no key for by mapping it to a spare
/// key for a moment, and an event read after the mapping changed again would give another
/// character (so text is typed slowly too: the mapping holds for the delay after each key).
void xdotool(std::vector<std::string> args, const std::function<void()>& body) {
    args.insert(args.begin(), "/usr/bin/xdotool");
    veld::test::ChildProcess child(args);
    const auto start = std::chrono::steady_clock::now();
    auto lastFrame = start;
    while (!child.exited() && std::chrono::steady_clock::now() < start + std::chrono::seconds(30)) {
        glfwPollEvents();
        if (std::chrono::steady_clock::now() - lastFrame > std::chrono::milliseconds(16)) {
            frame(body);
            lastFrame = std::chrono::steady_clock::now();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(child.exited());
    CHECK(child.wait().exitCode == 0);
    for (int i = 0; i < 4; ++i)
        frame(body);
}

}  // namespace

TEST_CASE("Arabic typed into a text field is shown shaped, right to left, caret in place") {
    std::string value;
    const std::string hint(veld::client::tr(M::OtherSpecify, "ar"));
    const auto body = [&] {
        ImGui::SetCursorPos(ImVec2(60, 80));
        ImGui::BeginChild("form", ImVec2(600, 120));
        ImGui::PushFont(fixture().fonts.large);
        ui::input("t.other", value, hint);
        ImGui::PopFont();
        ImGui::EndChild();
    };
    auto texts = frame(body);
    texts = frame(body);
    const ui::Recorded* field = ui::find("t.other");
    REQUIRE(field != nullptr);
    const float innerRight = field->max.x - ImGui::GetStyle().FramePadding.x;
    // The placeholder: shaped, right-aligned.
    const shaping::DrawnText* placeholder = findText(texts, hint, "t.other");
    REQUIRE(placeholder != nullptr);
    checkMatchesHbShape(*placeholder);
    CHECK(placeholder->pos.x + placeholder->width == doctest::Approx(innerRight).epsilon(0.002));

    // Click into the field and type, as a person would (xdotool through the X server).
    int wx = 0, wy = 0;
    glfwGetWindowPos(fixture().window->handle(), &wx, &wy);
    const int cx = wx + static_cast<int>((field->min.x + field->max.x) / 2);
    const int cy = wy + static_cast<int>((field->min.y + field->max.y) / 2);
    xdotool({"mousemove", "--sync", std::to_string(cx), std::to_string(cy), "click", "1"}, body);
    const std::string typed = "لا بُدَّ 12";
    xdotool({"type", "--delay", "400", typed}, body);
    REQUIRE(value == typed);
    texts = frame(body, std::string(VELD_SCREENSHOT_DIR) + "/shaping-field-ar.png");
    const shaping::DrawnText* shown = findText(texts, typed, "t.other");
    REQUIRE(shown != nullptr);
    checkMatchesHbShape(*shown);
    CHECK(shown->rtl);
    CHECK(shown->pos.x + shown->width == doctest::Approx(innerRight).epsilon(0.002));
    // Lam-alef joined into one glyph: fewer glyphs than code points.
    std::size_t glyphs = 0;
    for (const auto& run : shown->runs)
        glyphs += run.glyphs.size();
    CHECK(glyphs < veld::client::text::decodeUtf8(typed).size());
    // The caret after the last character typed: the digits "12" end the text logically and
    // sit, left to right, at its left end; the caret follows the 2.
    const int digits = runWithText(*shown, "12");
    REQUIRE(digits >= 0);
    const auto& run = shown->runs[static_cast<std::size_t>(digits)];
    CHECK(digits == 0);
    const float afterTwo =
        run.glyphs.back().origin.x + static_cast<float>(run.glyphs.back().ax) / 64.0f;
    CHECK(shown->caretX == doctest::Approx(afterTwo).epsilon(0.002));
    // Home: the caret before the first letter, at the right end.
    xdotool({"keydown", "Home"}, body);
    xdotool({"keyup", "Home"}, body);
    texts = frame(body);
    shown = findText(texts, typed, "t.other");
    REQUIRE(shown != nullptr);
    CHECK(shown->caretX == doctest::Approx(shown->pos.x + shown->width).epsilon(0.002));
    // A click just right of the digits puts the caret between the Arabic and the number (the
    // text's logical end is at the digits' right edge: after "12" comes nothing, before it the
    // space); the caret lands where the click was, not where ImGui's left-to-right layout has it.
    const int clickX = wx + static_cast<int>(afterTwo) + 2;
    xdotool({"mousemove", "--sync", std::to_string(clickX), std::to_string(cy), "click", "1"},
            body);
    texts = frame(body);
    shown = findText(texts, typed, "t.other");
    REQUIRE(shown != nullptr);
    CHECK(std::fabs(shown->caretX - afterTwo) < 1.5f);
}

TEST_CASE("buttons, choice rows, check boxes, selectables and toasts draw Arabic shaped") {
    const std::string send = "إرسال";
    const std::string yes = "نعم، أوافق";
    const std::string agree = "أوافق على الشروط";
    const std::string entry = "مدرسة Het Baken";
    const std::string message = "تم حفظ إجاباتك";
    bool checked = false;
    const auto body = [&] {
        ui::button("t.send", send, 0, 60);
        ui::choiceRow("t.yes", yes, true, false, true, 50, true, 500);
        ui::checkbox("t.agree", agree, checked);
        ui::selectable("t.entry", entry, false);
        ui::messageStrip(message, false);
    };
    frame(body);
    const auto texts = frame(body, std::string(VELD_SCREENSHOT_DIR) + "/shaping-widgets.png");
    const std::vector<std::pair<std::string, std::string>> widgets = {{"t.send", send},
                                                                      {"t.yes", yes},
                                                                      {"t.agree", agree},
                                                                      {"t.entry", entry},
                                                                      {"toast", message}};
    for (const auto& widgetLabel : widgets) {
        const std::string& id = widgetLabel.first;
        const std::string& label = widgetLabel.second;
        INFO(id);
        const ui::Recorded* widget = ui::find(id);
        REQUIRE(widget != nullptr);
        const shaping::DrawnText* t = findText(texts, label);
        REQUIRE(t != nullptr);
        checkMatchesHbShape(*t);
        // Drawn inside its widget.
        CHECK(t->pos.x >= widget->min.x);
        CHECK(t->pos.x + t->width <= widget->max.x + 0.5f);
        CHECK(t->pos.y >= widget->min.y);
        CHECK(t->pos.y < widget->max.y);
    }
    // The choice row's label stands right of nothing but its mark: right-aligned, RTL.
    const shaping::DrawnText* row = findText(texts, yes);
    REQUIRE(row != nullptr);
    CHECK(row->rtl);
    CHECK(row->pos.x + row->width > ui::find("t.yes")->max.x - 100);
}

TEST_CASE("a multi-line field shows each line shaped and right-aligned") {
    std::string value = "سطر أول\nوسطر ثانٍ مع 12";
    const auto body = [&] {
        ImGui::SetCursorPos(ImVec2(60, 300));
        ImGui::BeginChild("multi", ImVec2(600, 200));
        ui::input("t.multi", value, {}, true);
        ImGui::EndChild();
    };
    frame(body);
    const auto texts = frame(body);
    const ui::Recorded* field = ui::find("t.multi");
    REQUIRE(field != nullptr);
    const shaping::DrawnText* first = findText(texts, "سطر أول", "t.multi");
    const shaping::DrawnText* second = findText(texts, "وسطر ثانٍ مع 12", "t.multi");
    REQUIRE(first != nullptr);
    REQUIRE(second != nullptr);
    CHECK(second->pos.y > first->pos.y);
    const float innerRight = field->max.x - ImGui::GetStyle().FramePadding.x;
    CHECK(first->pos.x + first->width == doctest::Approx(innerRight).epsilon(0.002));
    CHECK(second->pos.x + second->width == doctest::Approx(innerRight).epsilon(0.002));
    checkMatchesHbShape(*first);
    checkMatchesHbShape(*second);
}

TEST_CASE("screenshots: Arabic phrases, and a kiosk question of the parents' survey in Arabic") {
    frame([&] {
        ImGui::PushFont(fixture().fonts.large);
        for (const auto& p : {kLamAlef, kMarks, kNumbers, kSchool})
            ui::paragraph(p, true);
        ui::paragraph(kTigrinya, false);
        ImGui::PopFont();
        ImGui::BeginChild("narrow", ImVec2(420, 200));
        ui::paragraph(kParagraph, true);
        ImGui::EndChild();
    });
    const auto texts = frame(
        [&] {
            ImGui::PushFont(fixture().fonts.large);
            for (const auto& p : {kLamAlef, kMarks, kNumbers, kSchool})
                ui::paragraph(p, true);
            ui::paragraph(kTigrinya, false);
            ImGui::PopFont();
            ImGui::BeginChild("narrow", ImVec2(420, 200));
            ui::paragraph(kParagraph, true);
            ImGui::EndChild();
        },
        std::string(VELD_SCREENSHOT_DIR) + "/shaping-phrases.png");
    CHECK(texts.size() >= 7);

    // The real program on a demo store: a kiosk question page in Arabic.
    veld::test::TempDir dir;
    const std::string ring = dir.file("project.ring");
    std::ofstream(dir.file("passphrase")) << "shaping tests passphrase";
    const auto ctl = veld::test::binary("veldctl");
    REQUIRE(veld::test::runProcess({ctl, "keys", "new", ring, "--id", "shaping",
                                    "--passphrase-file", dir.file("passphrase")})
                .exitCode == 0);
    const std::string store = dir.file("kiosk.veld");
    REQUIRE(
        veld::test::runProcess({ctl, "store", "demo", store, "--records", "1", "--forms",
                                std::string(VELD_SOURCE_DIR) + "/schemas/forms", "--ring", ring})
            .exitCode == 0);
    const std::string png = std::string(VELD_SCREENSHOT_DIR) + "/shaping-kiosk-ar.png";
    fs::remove(png);
    const auto r = veld::test::runProcess({veld::test::binary("veld"), "--store", store, "--show",
                                           "kiosk:vmbo_parent_survey:ar:1", "--screenshot", png});
    INFO(r.err);
    CHECK(r.exitCode == 0);
    CHECK(fs::exists(png));
}

int main(int argc, char** argv) {
    const char* display = std::getenv("DISPLAY");
    if (!display || !*display) {
        // No display: run again inside an X server of our own (xvfb-run), when there is one.
        if (std::getenv("VELD_SHAPING_UNDER_XVFB") == nullptr &&
            ::access("/usr/bin/xvfb-run", X_OK) == 0) {
            setenv("VELD_SHAPING_UNDER_XVFB", "1", 1);
            std::vector<char*> args = {const_cast<char*>("xvfb-run"), const_cast<char*>("-a"),
                                       const_cast<char*>("-s"),
                                       const_cast<char*>("-screen 0 1280x800x24")};
            for (int i = 0; i < argc; ++i)
                args.push_back(argv[i]);
            args.push_back(nullptr);
            ::execv("/usr/bin/xvfb-run", args.data());
        }
        std::fprintf(stderr,
                     "\n"
                     "**********************************************************************\n"
                     "* veld-shaping-tests: NO X SERVER, THE SHAPING TESTS DID NOT RUN       *\n"
                     "**********************************************************************\n"
                     "Install Debian's xvfb and xauth packages (tools/dev installs them).\n\n");
        return 77;
    }
    setenv("LIBGL_ALWAYS_SOFTWARE", "1", 1);
    doctest::Context context(argc, argv);
    return context.run();
}
