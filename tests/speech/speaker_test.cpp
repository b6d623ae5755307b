// The speech library on its own: every label of the parents' survey spoken to a WAV file and
// measured (by our reader and by sox), recorded clips decoded and played, the order of a reading
// and its replacement, and a missing sound device.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>
#include <thread>

#include <doctest/doctest.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/speech/speaker.hpp>

#include "speech/wav_check.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using veld::speech::Output;
using veld::speech::Speaker;
using veld::speech::Utterance;
using Clock = std::chrono::steady_clock;

using Texts = flatbuffers::Vector<flatbuffers::Offset<veld::fb::LocalizedText>>;

std::string textIn(const Texts* texts, const std::string& lang) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang() && t->text() && t->lang()->str() == lang) return t->text()->str();
    }
    return {};
}

void collect(const flatbuffers::Vector<flatbuffers::Offset<veld::fb::Item>>* items,
             const std::string& lang, std::vector<Utterance>& out) {
    if (!items) return;
    for (const auto* item : *items) {
        const std::string name = item->name()->str();
        if (auto t = textIn(item->labels(), lang); !t.empty()) out.push_back({name, t, lang, {}});
        if (auto t = textIn(item->hints(), lang); !t.empty())
            out.push_back({name + ".hint", t, lang, {}});
        collect(item->children(), lang, out);
    }
}

/// Every label (questions, groups, hints, choices) of a form in `lang`, keyed by item.
std::vector<Utterance> everyLabel(const veld::fb::Form& form, const std::string& lang) {
    std::vector<Utterance> out;
    collect(form.items(), lang, out);
    if (form.choice_lists()) {
        for (const auto* list : *form.choice_lists()) {
            if (!list->choices()) continue;
            for (const auto* c : *list->choices()) {
                if (auto t = textIn(c->labels(), lang); !t.empty())
                    out.push_back({list->name()->str() + "." + c->name()->str(), t, lang, {}});
            }
        }
    }
    return out;
}

std::size_t words(const std::string& text) {
    std::istringstream in(text);
    std::string w;
    std::size_t n = 0;
    while (in >> w)
        ++n;
    return std::max<std::size_t>(n, 1);
}

Output wavOutput(const std::string& path, double pace) {
    return Output{Output::Kind::Wav, path, pace};
}

std::vector<std::uint8_t> bytesOf(const std::string& path) {
    const std::string s = veld::test::readFile(path);
    return {s.begin(), s.end()};
}

std::string sox(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"/usr/bin/sox"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = veld::test::runProcess(argv);
    REQUIRE_MESSAGE(r.exitCode == 0, r.err);
    return r.err;
}

}  // namespace

TEST_CASE(
    "every label of the parents' survey is spoken audibly, at a plausible length, in nl en tr "
    "ar pl") {
    const auto check = veld::forms::loadFormFile(std::string(VELD_SOURCE_DIR) +
                                                 "/schemas/forms/vmbo_parent_survey.json");
    REQUIRE(check.ok());
    const veld::fb::Form& form = *veld::fb::GetForm(check.binary.data());
    veld::test::TempDir dir;
    for (const std::string lang : {"nl", "en", "tr", "ar", "pl"}) {
        CAPTURE(lang);
        const std::vector<Utterance> labels = everyLabel(form, lang);
        REQUIRE(labels.size() >= 60);
        const std::string wavPath = dir.file("survey-" + lang + ".wav");
        std::vector<veld::speech::Played> played;
        {
            Speaker speaker(wavOutput(wavPath, 0));
            CHECK(speaker.canRead(lang, false));
            speaker.say(labels);
            REQUIRE(speaker.waitIdle(600s));
            CHECK(speaker.status() == veld::speech::Status::Ready);
            played = speaker.played();
        }
        // Every label was read, once, in the order given.
        REQUIRE(played.size() == labels.size());
        const veld::test::Wav wav = veld::test::readWav(wavPath);
        CHECK(wav.rate == veld::speech::kSampleRate);
        CHECK(wav.channels == 1);
        double minRms = 1e9, minSoxRms = 1e9, minPerWord = 1e9, maxPerWord = 0, total = 0;
        for (std::size_t i = 0; i < labels.size(); ++i) {
            const auto& p = played[i];
            CAPTURE(labels[i].key);
            CAPTURE(labels[i].text);
            REQUIRE(p.key == labels[i].key);
            CHECK_FALSE(p.clip);
            REQUIRE(p.start + p.frames <= static_cast<std::int64_t>(wav.samples.size()));
            const double seconds = static_cast<double>(p.frames) / veld::speech::kSampleRate;
            const double perWord = seconds / static_cast<double>(words(labels[i].text));
            const double level = veld::test::rms(wav.samples, p.start, p.frames);
            const veld::test::SoxStat s = veld::test::soxStat(wavPath, p.start, p.frames);
            // Speech, not silence: espeak-ng speaks at an RMS of a few thousand.
            CHECK(level > 800);
            CHECK(s.rms > 0.025);
            CHECK(s.seconds == doctest::Approx(seconds).epsilon(0.001));
            // 150 words a minute is 0.4 s a word; long words (Arabic, Polish, Turkish) take more
            // and short ones less, but never a tenth of that nor five times it.
            CHECK(perWord > 0.15);
            CHECK(seconds < 0.5 + 2.0 * static_cast<double>(words(labels[i].text)));
            minRms = std::min(minRms, level);
            minSoxRms = std::min(minSoxRms, s.rms);
            minPerWord = std::min(minPerWord, perWord);
            maxPerWord = std::max(maxPerWord, perWord);
            total += seconds;
        }
        std::printf(
            "speech %s: %zu labels, %.1f s of speech, RMS min %.0f (sox %.3f), %.2f-%.2f s "
            "per word\n",
            lang.c_str(), labels.size(), total, minRms, minSoxRms, minPerWord, maxPerWord);
    }
}

TEST_CASE(
    "recorded clips in FLAC, Ogg Vorbis and WAV are decoded and played where there is no voice") {
    veld::test::TempDir dir;
    // Three tones, each its own pitch, rate and format.
    const std::string flac = dir.file("a.flac"), ogg = dir.file("b.ogg"), wav = dir.file("c.wav");
    sox({"-n", "-r", "44100", "-c", "2", flac, "synth", "1.0", "sine", "440", "vol", "0.5"});
    sox({"-n", "-r", "16000", "-c", "1", ogg, "synth", "0.7", "sine", "880", "vol", "0.5"});
    sox({"-n", "-r", "8000", "-c", "1", "-b", "16", wav, "synth", "0.5", "sine", "300", "vol",
         "0.5"});
    const std::string out = dir.file("clips.wav");
    std::vector<veld::speech::Played> played;
    {
        Speaker speaker(wavOutput(out, 0));
        CHECK_FALSE(speaker.hasVoice("ti"));
        CHECK_FALSE(speaker.hasVoice("so"));
        CHECK_FALSE(speaker.canRead("ti", false));
        CHECK(speaker.canRead("so", true));
        CHECK(speaker.hasVoice("nl"));
        speaker.say({
            {"q.ti", "ጽሑፍ", "ti", bytesOf(flac)},
            {"q.ti.hint", "no clip, no voice: nothing to hear", "ti", {}},
            {"q.so", "Qoraal", "so", bytesOf(ogg)},
            {"q.so.c", "Haa", "so", bytesOf(wav)},
        });
        REQUIRE(speaker.waitIdle(60s));
        played = speaker.played();
    }
    REQUIRE(played.size() == 3);
    const veld::test::Wav w = veld::test::readWav(out);
    const std::map<std::string, std::pair<double, double>> expected = {
        {"q.ti", {440, 1.0}}, {"q.so", {880, 0.7}}, {"q.so.c", {300, 0.5}}};
    for (const auto& p : played) {
        CAPTURE(p.key);
        REQUIRE(expected.count(p.key));
        CHECK(p.clip);
        const auto [hz, seconds] = expected.at(p.key);
        const double length = static_cast<double>(p.frames) / veld::speech::kSampleRate;
        CHECK(length == doctest::Approx(seconds).epsilon(0.02));
        // The clip's own sound: its pitch, by our count and by sox's.
        CHECK(veld::test::toneFrequency(w.samples, p.start, p.frames, w.rate) ==
              doctest::Approx(hz).epsilon(0.02));
        const auto s = veld::test::soxStat(out, p.start, p.frames);
        CHECK(s.frequency == doctest::Approx(hz).epsilon(0.05));
        CHECK(s.rms > 0.2);
        std::printf("clip %s: %.3f s, %.0f Hz (sox %.0f Hz), sox RMS %.3f\n", p.key.c_str(), length,
                    veld::test::toneFrequency(w.samples, p.start, p.frames, w.rate), s.frequency,
                    s.rms);
    }
    // The samples written are exactly the decoded clip's.
    std::string error;
    const auto decoded = veld::speech::decodeClip(bytesOf(wav), &error);
    REQUIRE(decoded);
    const auto& last = played.back();
    REQUIRE(last.frames == static_cast<std::int64_t>(decoded->size()));
    CHECK(std::equal(decoded->begin(), decoded->end(),
                     w.samples.begin() + static_cast<std::ptrdiff_t>(last.start)));
}

TEST_CASE("a clip that is not sound, or far too long, is refused with a reason") {
    std::string error;
    const std::vector<std::uint8_t> junk(4000, 0x5a);
    CHECK_FALSE(veld::speech::decodeClip(junk, &error));
    CHECK(error.find("is not a recording libsndfile can read") != std::string::npos);
    CHECK_FALSE(veld::speech::decodeClip({}, &error));
    veld::test::TempDir dir;
    const std::string longClip = dir.file("long.wav");
    sox({"-n", "-r", "8000", "-c", "1", "-b", "16", longClip, "synth", "3", "sine", "200"});
    CHECK_FALSE(veld::speech::decodeClip(bytesOf(longClip), &error, 2.0));
    CHECK(error.find("longer than 2 s") != std::string::npos);
    CHECK(veld::speech::decodeClip(bytesOf(longClip), &error, 5.0));
    // A clip that cannot be read is spoken by the voice instead.
    const std::string out = dir.file("fallback.wav");
    Speaker speaker(wavOutput(out, 0));
    speaker.say({{"q.x", "Goedemorgen", "nl", junk}});
    REQUIRE(speaker.waitIdle(60s));
    const auto played = speaker.played();
    REQUIRE(played.size() == 1);
    CHECK_FALSE(played[0].clip);
    CHECK(played[0].frames > veld::speech::kSampleRate / 4);
}

TEST_CASE(
    "a question is read before its choices, current() follows, and say() replaces a reading") {
    veld::test::TempDir dir;
    const std::string out = dir.file("order.wav");
    Speaker speaker(wavOutput(out, 1));  // real time, as a device plays
    REQUIRE(speaker.waitIdle(5s));
    const std::vector<Utterance> page = {
        {"q.travel", "Hoe komt uw kind naar school?", "nl", {}},
        {"q.travel.walk", "Lopend", "nl", {}},
        {"q.travel.bike", "Met de fiets", "nl", {}},
        {"q.travel.bus", "Met de bus", "nl", {}},
    };
    speaker.say(page);
    std::vector<std::string> heard;
    const auto until = Clock::now() + 30s;
    while (speaker.busy() && Clock::now() < until) {
        const std::string now = speaker.current();
        if (!now.empty() && (heard.empty() || heard.back() != now)) heard.push_back(now);
        std::this_thread::sleep_for(5ms);
    }
    CHECK(heard ==
          std::vector<std::string>{"q.travel", "q.travel.walk", "q.travel.bike", "q.travel.bus"});
    CHECK(speaker.current().empty());
    auto played = speaker.played();
    REQUIRE(played.size() == 4);
    for (std::size_t i = 1; i < played.size(); ++i) {
        CHECK(played[i].start >= played[i - 1].start + played[i - 1].frames);  // in turn
    }
    // The WAV file's key list says the same, with the same sample offsets.
    {
        std::ifstream keys(out + ".keys");
        for (const auto& p : played) {
            std::int64_t start = -1;
            std::string key;
            keys >> start >> key;
            CHECK(start == p.start);
            CHECK(key == p.key);
        }
    }

    // A new page while the old one is being read: the old one stops at once.
    speaker.say(page);
    const auto waitFor = [&](const std::string& key) {
        const auto limit = Clock::now() + 20s;
        while (speaker.current() != key && Clock::now() < limit)
            std::this_thread::sleep_for(2ms);
        return speaker.current() == key;
    };
    REQUIRE(waitFor("q.travel.walk"));
    const auto before = Clock::now();
    speaker.say({{"q.school", "Op welke school zit uw kind?", "nl", {}}});
    CHECK(std::chrono::duration<double>(Clock::now() - before).count() < 0.01);  // at once
    REQUIRE(waitFor("q.school"));
    CHECK(Clock::now() - before < 1s);
    std::vector<std::string> after;
    while (speaker.busy() && Clock::now() < before + 20s) {
        const std::string now = speaker.current();
        if (!now.empty() && (after.empty() || after.back() != now)) after.push_back(now);
        std::this_thread::sleep_for(5ms);
    }
    CHECK(after == std::vector<std::string>{"q.school"});
    played = speaker.played();
    REQUIRE(played.size() == 7);
    CHECK(played[4].key == "q.travel");
    CHECK(played[5].key == "q.travel.walk");
    CHECK(played[6].key == "q.school");
    // The replaced choice was cut short: the new question starts before its planned end.
    CHECK(played[6].start < played[5].start + played[5].frames);

    // stop() ends a reading too.
    speaker.say(page);
    REQUIRE(waitFor("q.travel"));
    speaker.stop();
    CHECK(speaker.waitIdle(1s));
    CHECK(speaker.current().empty());
}

// How VELD_AUDIO names the sound device here, and how it does on the other platform.
#ifdef _WIN32
constexpr std::string_view kDevice = "waveout";
constexpr std::string_view kOtherDevice = "alsa";
#else
constexpr std::string_view kDevice = "alsa";
constexpr std::string_view kOtherDevice = "waveout";
#endif

TEST_CASE("without a sound device the speaker says so at once, and say() never waits") {
    const std::string missing = std::string(kDevice) + ":veld_no_such_device";
    for (const std::string& spec : {missing, std::string("none")}) {
        CAPTURE(spec);
        const auto output = veld::speech::parseOutput(spec);
        REQUIRE(output);
        const auto opened = Clock::now();
        Speaker speaker(*output);
        CHECK(Clock::now() - opened < 1s);
        REQUIRE(speaker.waitIdle(3s));
        CHECK(speaker.status() ==
              (spec == "none" ? veld::speech::Status::Off : veld::speech::Status::NoDevice));
        if (spec != "none")
            CHECK(speaker.statusDetail().find("veld_no_such_device") != std::string::npos);
        for (int i = 0; i < 20; ++i) {
            const auto t = Clock::now();
            speaker.say({{"q.a", "Hallo", "nl", {}}, {"q.a.b", "Ja", "nl", {}}});
            CHECK(Clock::now() - t < 20ms);
            CHECK(speaker.current().empty());
        }
        CHECK(speaker.waitIdle(2s));
        CHECK(speaker.played().empty());
    }
    // The default device, whatever this machine has (ALSA's, or the one chosen in Windows'
    // sound settings): it opens or it fails, within a bound, and say() never waits for it.
    Speaker speaker(*veld::speech::parseOutput(""));
    CHECK(speaker.waitIdle(5s));
    CHECK(speaker.status() != veld::speech::Status::Starting);
    const auto t = Clock::now();
    speaker.say({{"q.a", "Hallo", "nl", {}}});
    CHECK(Clock::now() - t < 20ms);
    speaker.stop();
    CHECK(speaker.waitIdle(5s));
    CHECK_FALSE(veld::speech::parseOutput("pulse:x"));
    CHECK_FALSE(veld::speech::parseOutput("wav:"));
    CHECK_FALSE(veld::speech::parseOutput(std::string(kDevice) + ":"));
    // The other platform's device is not this one's.
    CHECK_FALSE(veld::speech::parseOutput(std::string(kOtherDevice) + ":x"));
    CHECK(veld::speech::outputForms().find(kDevice) != std::string::npos);
}

#ifdef _WIN32
TEST_CASE("a Windows sound device named by a number past the last one is refused by name") {
    const auto output = veld::speech::parseOutput("waveout:4000");
    REQUIRE(output);
    CHECK(output->target == "4000");
    Speaker speaker(*output);
    REQUIRE(speaker.waitIdle(3s));
    CHECK(speaker.status() == veld::speech::Status::NoDevice);
    CHECK(speaker.statusDetail().find("\"4000\"") != std::string::npos);
}
#endif

TEST_CASE("a reading stopped or replaced at any moment leaves the speaker idle, never stuck") {
    veld::test::TempDir dir;
    Speaker speaker(wavOutput(dir.file("stress.wav"), 1));
    REQUIRE(speaker.waitIdle(5s));
    const std::vector<Utterance> page = {
        {"q", "Hoe komt uw kind naar school?", "nl", {}},
        {"q.walk", "Lopend", "nl", {}},
        {"q.bike", "Met de fiets", "nl", {}},
    };
    // Taps at every moment of a reading: while a list is handed over, made, or played.
    for (int round = 0; round < 60; ++round) {
        speaker.say(page);
        std::this_thread::sleep_for(std::chrono::milliseconds((round * 7) % 40));
        if (round % 3 == 0) speaker.say(page);  // a second tap on another button
        std::this_thread::sleep_for(std::chrono::milliseconds((round * 13) % 50));
        speaker.stop();
        INFO("round " << round);
        REQUIRE(speaker.waitIdle(5s));
        CHECK_FALSE(speaker.busy());
        CHECK(speaker.current().empty());
    }
}
