// Read-aloud in the client's screens, headless over a real device store, with the sound written
// to a WAV file (VELD_AUDIO=wav:FILE, in real time, so that the highlight can be watched): the
// kiosk's speaker buttons, the highlight following the reading, a page that reads itself, clips
// for languages without a voice, no sound device, and the field worker's filling screen.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

#include <veld/pin.hpp>
#include <veld/project_key.hpp>
#include <veld/speech/speaker.hpp>

#include "../tools/veldctl/demo.hpp"
#include "speech/wav_check.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"

using namespace veld;
using namespace veld::client;
using veld::client::testing::UiDriver;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Three tones made by sox as the recorded readings of a Tigrinya and a Somali label.
struct Clip {
    std::string name;
    std::string path;
};

std::string hexDigest(const std::string& path) {
    const auto r = veld::test::runProcess({"/usr/bin/b2sum", "--length=256", path});
    REQUIRE(r.exitCode == 0);
    return r.out.substr(0, 64);
}

std::string mediaJson(const Clip& clip) {
    const std::string bytes = veld::test::readFile(clip.path);
    std::string data;
    for (const char ch : bytes)
        data += (data.empty() ? "" : ",") + std::to_string(static_cast<unsigned char>(ch));
    return R"({"name": ")" + clip.name + R"(", "kind": "Audio", "digest": ")" +
           hexDigest(clip.path) + R"(", "data": [)" + data + "]}";
}

// A two-question kiosk form in Dutch, Tigrinya and Somali; the first question's label and two of
// its choices have recordings in ti and so.
std::string speechForm(const veld::test::TempDir& dir, bool readAloud) {
    const auto sox = [&](const std::vector<std::string>& args) {
        std::vector<std::string> argv{"/usr/bin/sox", "-n"};
        argv.insert(argv.end(), args.begin(), args.end());
        REQUIRE(veld::test::runProcess(argv).exitCode == 0);
    };
    const std::vector<Clip> clips = {{"travel_ti.flac", dir.file("travel_ti.flac")},
                                     {"walk_ti.ogg", dir.file("walk_ti.ogg")},
                                     {"travel_so.wav", dir.file("travel_so.wav")},
                                     {"bike_so.flac", dir.file("bike_so.flac")}};
    sox({"-r", "44100", clips[0].path, "synth", "0.8", "sine", "440", "vol", "0.5"});
    sox({"-r", "16000", clips[1].path, "synth", "0.5", "sine", "880", "vol", "0.5"});
    sox({"-r", "8000", "-b", "16", clips[2].path, "synth", "0.6", "sine", "300", "vol", "0.5"});
    sox({"-r", "48000", clips[3].path, "synth", "0.4", "sine", "660", "vol", "0.5"});
    std::string media;
    for (const auto& c : clips)
        media += (media.empty() ? "" : ",") + mediaJson(c);
    return std::string(R"({
  "id": "speech_survey", "version": 1, "pilot": "vmbo",
  "titles": [{"lang": "nl", "text": "Voorleestest"}],
  "default_language": "nl",
  "settings": {"sealed": true, "kiosk": true, "anonymous": true, "read_aloud": )") +
           (readAloud ? "true" : "false") + R"(},
  "languages": [{"tag": "nl", "name": "Nederlands"}, {"tag": "ti", "name": "ትግርኛ"},
                {"tag": "so", "name": "Soomaali"}],
  "items": [
    {"name": "travel", "type": "SelectOne", "choice_list": "travel",
     "labels": [{"lang": "nl", "text": "Hoe komt uw kind naar school?"},
                {"lang": "ti", "text": "ውላድኩም ናብ ቤት ትምህርቲ ብኸመይ ይመጽእ?", "audio": "travel_ti.flac"},
                {"lang": "so", "text": "Sidee buu ilmahaagu dugsiga u yimaadaa?", "audio": "travel_so.wav"}],
     "hints": [{"lang": "nl", "text": "Kies wat het meest voorkomt."}]},
    {"name": "bag", "type": "SelectOne", "choice_list": "yesno",
     "labels": [{"lang": "nl", "text": "Heeft uw kind een tas?"},
                {"lang": "ti", "text": "ውላድኩም ቦርሳ ኣለዎ ድዩ?"},
                {"lang": "so", "text": "Ilmahaagu boorso ma leeyahay?"}]}
  ],
  "choice_lists": [
    {"name": "travel", "choices": [
      {"name": "walk", "labels": [{"lang": "nl", "text": "Lopend"},
                                  {"lang": "ti", "text": "ብእግሪ", "audio": "walk_ti.ogg"},
                                  {"lang": "so", "text": "Lug"}]},
      {"name": "bike", "labels": [{"lang": "nl", "text": "Met de fiets"},
                                  {"lang": "ti", "text": "ብብሽክለታ"},
                                  {"lang": "so", "text": "Baaskiil", "audio": "bike_so.flac"}]},
      {"name": "bus", "labels": [{"lang": "nl", "text": "Met de bus"},
                                 {"lang": "ti", "text": "ብኣውቶቡስ"},
                                 {"lang": "so", "text": "Bas"}]}]},
    {"name": "yesno", "choices": [
      {"name": "yes", "labels": [{"lang": "nl", "text": "Ja"}, {"lang": "ti", "text": "እወ"}, {"lang": "so", "text": "Haa"}]},
      {"name": "no", "labels": [{"lang": "nl", "text": "Nee"}, {"lang": "ti", "text": "ኣይፋል"}, {"lang": "so", "text": "Maya"}]}]}
  ],
  "media": [)" +
           media + "]\n}";
}

// A device store with the pilots' forms and the speech form, a project key, and (kiosk) starting
// as a kiosk of the speech form with staff PIN 2468.
std::string speechStore(const veld::test::TempDir& dir, bool readAloud, bool kiosk) {
    const std::string path = dir.file("device.veld");
    StoreOptions create;
    create.mode = sql::OpenMode::ReadWriteCreate;
    auto store = Store::open(path, create);
    REQUIRE_MESSAGE(store.ok(), store.error().describe());
    auto setup = veldctl::setUpDemo(store.value(), std::string(VELD_SOURCE_DIR) + "/schemas/forms");
    REQUIRE_MESSAGE(setup.ok(), setup.error().describe());
    const auto check = forms::compileFormJson(speechForm(dir, readAloud), "speech_survey.json");
    for (const auto& p : check.problems)
        INFO(p.describe());
    REQUIRE(check.ok());
    REQUIRE(store.value().installForm(check.binary).ok());
    auto key = projectkey::create("speech-tests", "speech tests passphrase", 1'764'000'000'000,
                                  projectkey::Strength::Interactive);
    REQUIRE(key);
    REQUIRE(store.value().setSetting(projectkey::kKeySetting,
                                     projectkey::formatPublicKey(key.value().publicKey)));
    if (kiosk) {
        auto hashed = pin::hash("2468");
        REQUIRE(hashed.has_value());
        REQUIRE(store.value().setSetting("kiosk.pin_hash", *hashed).ok());
        REQUIRE(store.value().setSetting("kiosk.form", "speech_survey").ok());
    }
    return path;
}

// VELD_AUDIO for the App made next.
struct AudioEnv {
    explicit AudioEnv(const std::string& spec) { ::setenv("VELD_AUDIO", spec.c_str(), 1); }
    ~AudioEnv() { ::unsetenv("VELD_AUDIO"); }
};

std::vector<std::pair<std::int64_t, std::string>> keysOf(const std::string& wav) {
    std::vector<std::pair<std::int64_t, std::string>> out;
    std::ifstream in(wav + ".keys");
    std::int64_t at = 0;
    std::string key;
    while (in >> at >> key)
        out.emplace_back(at, key);
    return out;
}

std::vector<std::string> keyNames(const std::string& wav, std::size_t from = 0) {
    std::vector<std::string> out;
    const auto keys = keysOf(wav);
    for (std::size_t i = from; i < keys.size(); ++i)
        out.push_back(keys[i].second);
    return out;
}

// Frames (in real time) while the app reads aloud; the item highlighted as heard, in turn.
std::vector<std::string> watchReading(UiDriver& ui,
                                      std::chrono::seconds limit = std::chrono::seconds(40)) {
    std::vector<std::string> seen;
    const auto until = SteadyClock::now() + limit;
    // The reading may take a moment to start.
    while (!ui.app().readingAloud() && SteadyClock::now() < until) {
        ui.frame();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    while (ui.app().readingAloud() && SteadyClock::now() < until) {
        ui.frame();
        if (const auto* r = ui.item("reading"); r && (seen.empty() || seen.back() != r->text))
            seen.push_back(r->text);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ui.frame();
    return seen;
}

}  // namespace

TEST_CASE(
    "read-aloud: the kiosk's speaker reads the question, then each choice, highlighted in turn") {
    veld::test::TempDir dir;
    const std::string path = speechStore(dir, false, true);
    const std::string wav = dir.file("kiosk.wav");
    AudioEnv audio("wav:" + wav);
    UiDriver ui(path);
    REQUIRE(ui.app().screen == Screen::Kiosk);
    ui.click("kiosk.lang.nl");
    // A large button with a word, not hidden behind hover.
    const auto* speak = ui.item("speak.q.travel");
    REQUIRE(speak);
    CHECK(speak->enabled);
    CHECK(speak->text == "Voorlezen");
    CHECK(speak->max.x - speak->min.x >= 50);
    CHECK(speak->max.y - speak->min.y >= 50);
    for (const char* choice : {"walk", "bike", "bus"}) {
        const auto* own = ui.item(std::string("speak.q.travel.") + choice);
        REQUIRE(own);
        CHECK(own->max.y - own->min.y >= 50);
        CHECK(own->max.x - own->min.x >= 50);
    }
    // Nothing reads before it is asked (the form does not read itself).
    for (int i = 0; i < 10; ++i)
        ui.frame();
    CHECK_FALSE(ui.app().readingAloud());

    ui.click("speak.q.travel");
    CHECK(ui.item("speak.q.travel")->text == "Stop");
    const auto seen = watchReading(ui);
    CHECK(seen == std::vector<std::string>{"q.travel", "q.travel.hint", "q.travel.walk",
                                           "q.travel.bike", "q.travel.bus"});
    CHECK(keyNames(wav) == seen);
    CHECK_FALSE(ui.has("reading"));
    CHECK(ui.item("speak.q.travel")->text == "Voorlezen");
    // What was written is speech, each part in turn.
    {
        const auto w = veld::test::readWav(wav);
        const auto keys = keysOf(wav);
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const std::int64_t end = i + 1 < keys.size()
                                         ? keys[i + 1].first
                                         : static_cast<std::int64_t>(w.samples.size());
            CHECK(veld::test::rms(w.samples, keys[i].first, end - keys[i].first) > 500);
        }
    }

    // A choice's own button reads just that choice.
    ui.click("speak.q.travel.bike");
    CHECK(watchReading(ui) == std::vector<std::string>{"q.travel.bike"});
    CHECK(keyNames(wav, 5) == std::vector<std::string>{"q.travel.bike"});

    // Tapping again stops.
    ui.click("speak.q.travel");
    const auto until = SteadyClock::now() + std::chrono::seconds(20);
    while (SteadyClock::now() < until) {
        ui.frame();
        if (const auto* r = ui.item("reading"); r && r->text == "q.travel") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ui.click("speak.q.travel");
    for (int i = 0; i < 100 && ui.app().readingAloud(); ++i) {
        ui.frame();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK_FALSE(ui.app().readingAloud());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(keyNames(wav, 6) == std::vector<std::string>{"q.travel"});
    // A parent listening is not idle: the clock that clears an abandoned response waits while a
    // page is read, and starts again when the reading ends.
    ui.click("speak.q.travel");
    REQUIRE(ui.app().readingAloud());
    const std::int64_t idleMs = std::int64_t{ui.app().settings.kioskIdleSeconds} * 1000;
    ui.advance(idleMs + 30'000);
    CHECK(ui.app().kiosk.phase == KioskPhase::Questions);
    CHECK_FALSE(ui.app().kiosk.idleWarning);
    ui.click("speak.q.travel");  // stop
    const auto stopDeadline = SteadyClock::now() + std::chrono::seconds(20);
    while (ui.app().readingAloud() && SteadyClock::now() < stopDeadline) {
        ui.frame();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE_FALSE(ui.app().readingAloud());
    ui.advance(idleMs + 500);
    CHECK(ui.app().kiosk.idleWarning);
}

TEST_CASE(
    "read-aloud: a form with read_aloud reads each kiosk page as it opens, and stops on leaving") {
    veld::test::TempDir dir;
    const std::string path = speechStore(dir, true, true);
    const std::string wav = dir.file("auto.wav");
    AudioEnv audio("wav:" + wav);
    UiDriver ui(path);
    ui.click("kiosk.lang.nl");
    // Nobody pressed anything: the page reads itself.
    const auto seen = watchReading(ui);
    CHECK(seen == std::vector<std::string>{"q.travel", "q.travel.hint", "q.travel.walk",
                                           "q.travel.bike", "q.travel.bus"});
    // The next page reads itself too; leaving it during its question stops it.
    ui.click("q.travel.walk");
    ui.click("kiosk.next");
    const auto until = SteadyClock::now() + std::chrono::seconds(20);
    while (SteadyClock::now() < until && ui.app().readAloud.current() != "q.bag") {
        ui.frame();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(ui.app().readAloud.current() == "q.bag");
    ui.click("kiosk.back");
    // Back on the first page: its reading starts again from its question.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ui.frame();
    const auto names = keyNames(wav, 5);
    REQUIRE(names.size() >= 2);
    CHECK(names[0] == "q.bag");
    CHECK(names[1] == "q.travel");
}

TEST_CASE(
    "read-aloud: Tigrinya and Somali are read from the form's clips, and say so where there are "
    "none") {
    veld::test::TempDir dir;
    const std::string path = speechStore(dir, false, true);
    for (const std::string lang : {"ti", "so"}) {
        CAPTURE(lang);
        const std::string wav = dir.file("clips-" + lang + ".wav");
        AudioEnv audio("wav:" + wav);
        UiDriver ui(path);
        ui.click("kiosk.lang." + lang);
        REQUIRE(ui.item("speak.q.travel"));
        CHECK(ui.item("speak.q.travel")->enabled);
        // Only the recorded choice has a working button.
        const std::string recorded = lang == "ti" ? "walk" : "bike";
        for (const char* choice : {"walk", "bike", "bus"}) {
            const auto* own = ui.item(std::string("speak.q.travel.") + choice);
            REQUIRE(own);
            CHECK(own->enabled == (choice == recorded));
        }
        ui.click("speak.q.travel");
        const auto seen = watchReading(ui);
        // The hint exists in Dutch only: it is shown in Dutch, and read in Dutch.
        CHECK(seen ==
              std::vector<std::string>{"q.travel", "q.travel.hint", "q.travel." + recorded});
        // The clips' own tones are in the output.
        const auto w = veld::test::readWav(wav);
        const auto keys = keysOf(wav);
        REQUIRE(keys.size() == 3);
        const double question = lang == "ti" ? 440 : 300;
        const double choice = lang == "ti" ? 880 : 660;
        const double qSeconds = lang == "ti" ? 0.8 : 0.6;
        const auto qFrames = static_cast<std::int64_t>(qSeconds * veld::speech::kSampleRate);
        CHECK(veld::test::toneFrequency(w.samples, keys[0].first, qFrames - 200, w.rate) ==
              doctest::Approx(question).epsilon(0.03));
        CHECK(veld::test::rms(w.samples, keys[1].first, keys[2].first - keys[1].first) > 500);
        CHECK(veld::test::toneFrequency(w.samples, keys[2].first, 2000, w.rate) ==
              doctest::Approx(choice).epsilon(0.03));
        CHECK(veld::test::soxStat(wav, keys[0].first, qFrames - 200).frequency ==
              doctest::Approx(question).epsilon(0.05));
        // The second question has no recording and there is no voice: it says it cannot be read.
        ui.click("q.travel.walk");
        ui.click("kiosk.next");
        const auto* bag = ui.item("speak.q.bag");
        REQUIRE(bag);
        CHECK_FALSE(bag->enabled);
        CHECK(bag->text == std::string(tr(M::ReadAloudCannot, lang)));
        CHECK(bag->max.y - bag->min.y >= 50);
    }
}

TEST_CASE("read-aloud: without a sound device the button says so, and frames keep coming") {
    veld::test::TempDir dir;
    const std::string path = speechStore(dir, true, true);
#ifdef _WIN32
    AudioEnv audio("waveout:veld_no_such_device");
#else
    AudioEnv audio("alsa:veld_no_such_device");
#endif
    UiDriver ui(path);
    ui.click("kiosk.lang.nl");
    // The device is found missing on the speaker's thread; frames go on meanwhile.
    double slowest = 0;
    for (int i = 0; i < 200; ++i) {
        const auto t = SteadyClock::now();
        ui.frame();
        slowest = std::max(
            slowest, std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count());
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    MESSAGE("slowest of 200 frames without a sound device: " << slowest << " ms");
    CHECK(slowest < 100);
    const auto* speak = ui.item("speak.q.travel");
    REQUIRE(speak);
    CHECK_FALSE(speak->enabled);
    CHECK(speak->text == "Geen geluid");
    CHECK(ui.app().readAloud.speaker->status() == speech::Status::NoDevice);
    CHECK_FALSE(ui.app().readingAloud());
    // The page still works: an answer, the next page.
    ui.click("q.travel.bus");
    ui.click("kiosk.next");
    CHECK(ui.has("q.bag.yes"));
}

TEST_CASE(
    "read-aloud: the field worker's filling screen has the speaker button on every question") {
    veld::test::TempDir dir;
    const std::string path = speechStore(dir, true, false);
    const std::string wav = dir.file("fill.wav");
    AudioEnv audio("wav:" + wav);
    UiDriver ui(path);
    const FormEntry* form = ui.app().findForm("speech_survey");
    REQUIRE(form);
    startNewRecord(ui.app(), *form);
    ui.settle();
    REQUIRE(ui.app().screen == Screen::Fill);
    // Both questions are on the page, each with its button; nothing reads by itself here.
    REQUIRE(ui.has("speak.q.travel"));
    REQUIRE(ui.has("speak.q.bag"));
    CHECK_FALSE(ui.has("speak.q.travel.walk"));
    for (int i = 0; i < 10; ++i)
        ui.frame();
    CHECK_FALSE(ui.app().readingAloud());
    ui.click("speak.q.bag");
    CHECK(watchReading(ui) == std::vector<std::string>{"q.bag", "q.bag.yes", "q.bag.no"});
    CHECK(keyNames(wav) == std::vector<std::string>{"q.bag", "q.bag.yes", "q.bag.no"});
}
