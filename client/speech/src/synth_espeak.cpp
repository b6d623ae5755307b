// Speech by espeak-ng: synchronous synthesis into a buffer.
#include <atomic>
#include <cstring>
#include <mutex>

#include <espeak-ng/speak_lib.h>

#include "audio.hpp"

namespace veld::speech {

namespace detail {

namespace {

// espeak-ng keeps one synthesiser per process: every use goes through this lock.
std::mutex& espeakLock() {
    static std::mutex lock;
    return lock;
}

struct SynthTarget {
    std::vector<std::int16_t>* out;
    const std::atomic<bool>* cancel;
};

// Where the synthesis running now puts its sound (set under espeakLock()). Not every callback
// carries an event with the caller's user data, so it is not taken from there.
SynthTarget* g_target = nullptr;

int onSynth(short* wav, int count, espeak_EVENT*) {
    SynthTarget* target = g_target;
    if (!target) return 0;
    if (wav && count > 0) target->out->insert(target->out->end(), wav, wav + count);
    return target->cancel && target->cancel->load() ? 1 : 0;  // 1 stops the synthesis
}

// Initialises espeak-ng once; false when its data cannot be found.
bool initialised() {
    static const bool ok = [] {
        const int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, nullptr, 0);
        if (rate != kSampleRate) return false;
        espeak_SetSynthCallback(onSynth);
        // A little slower than espeak-ng's 175 words a minute: listeners read along.
        espeak_SetParameter(espeakRATE, 150, 0);
        return true;
    }();
    return ok;
}

}  // namespace

const std::set<std::string, std::less<>>& voices() {
    static const std::set<std::string, std::less<>> tags = [] {
        std::set<std::string, std::less<>> out;
        const std::lock_guard lock(espeakLock());
        if (!initialised()) return out;
        const espeak_VOICE** list = espeak_ListVoices(nullptr);
        for (; list && *list; ++list) {
            // languages: a priority byte, then a NUL-terminated tag, repeated; a 0 byte ends it.
            for (const char* p = (*list)->languages; p && *p;) {
                const char* tag = p + 1;
                out.insert(tag);
                p = tag + std::strlen(tag) + 1;
            }
        }
        return out;
    }();
    return tags;
}

std::string voiceFor(std::string_view language) {
    if (language.empty()) return {};
    const auto& all = voices();
    if (all.count(language)) return std::string(language);
    // "en" is spoken by a voice of "en-gb", say.
    for (const auto& tag : all) {
        if (tag.size() > language.size() && tag.compare(0, language.size(), language) == 0 &&
            tag[language.size()] == '-')
            return tag;
    }
    return {};
}

std::vector<std::int16_t> synthesize(std::string_view text, std::string_view language,
                                     const std::atomic<bool>* cancel) {
    std::vector<std::int16_t> out;
    const std::string lang = voiceFor(language);
    if (text.empty() || lang.empty()) return out;
    const std::string input(text);
    const std::lock_guard lock(espeakLock());
    espeak_VOICE voice{};
    voice.languages = lang.c_str();
    if (espeak_SetVoiceByProperties(&voice) != EE_OK) return {};
    SynthTarget target{&out, cancel};
    g_target = &target;
    espeak_Synth(input.c_str(), input.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr,
                 nullptr);
    espeak_Synchronize();
    g_target = nullptr;
    return out;
}

}  // namespace detail

}  // namespace veld::speech
