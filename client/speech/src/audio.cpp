// Making PCM: espeak-ng's speech (synchronous synthesis into a buffer) and recorded clips decoded
// from memory (veld/sound_file.hpp), mixed down to mono and resampled by libsamplerate.
#include "audio.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <espeak-ng/speak_lib.h>
#include <samplerate.h>

#include <veld/sound_file.hpp>

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

std::vector<std::int16_t> synthesize(std::string_view text, std::string_view language) {
    return detail::synthesize(text, language, nullptr);
}

std::optional<std::vector<std::int16_t>> decodeClip(std::span<const std::uint8_t> bytes,
                                                    std::string* error, double maxSeconds) {
    auto fail = [&](std::string why) -> std::optional<std::vector<std::int16_t>> {
        if (error) *error = std::move(why);
        return std::nullopt;
    };
    if (bytes.empty()) return fail("the clip is empty");
    // Mixed to mono while it is read; a clip past the limit stops the reading.
    std::vector<float> mono;
    bool tooLong = false;
    std::string problem;
    const auto info = sound::read(
        bytes,
        [&](const float* block, std::int64_t frames, const sound::Format& f) {
            for (std::int64_t i = 0; i < frames; ++i) {
                float sum = 0;
                for (int ch = 0; ch < f.channels; ++ch)
                    sum += block[i * f.channels + ch];
                mono.push_back(sum / static_cast<float>(f.channels));
            }
            tooLong = static_cast<double>(mono.size()) > maxSeconds * f.sampleRate;
            return !tooLong;
        },
        &problem);
    if (!info) return fail("the clip " + problem);
    if (tooLong)
        return fail("the clip is longer than " + std::to_string(static_cast<int>(maxSeconds)) +
                    " s");
    if (info->sampleRate < 4000 || info->sampleRate > 384000)
        return fail("unsupported sample rate");
    if (mono.empty()) return fail("the clip holds no sound");
    std::vector<float> resampled;
    if (info->sampleRate == kSampleRate) {
        resampled = std::move(mono);
    } else {
        const double ratio = static_cast<double>(kSampleRate) / info->sampleRate;
        resampled.resize(static_cast<std::size_t>(static_cast<double>(mono.size()) * ratio) + 64);
        SRC_DATA data{};
        data.data_in = mono.data();
        data.input_frames = static_cast<long>(mono.size());
        data.data_out = resampled.data();
        data.output_frames = static_cast<long>(resampled.size());
        data.src_ratio = ratio;
        if (const int rc = src_simple(&data, SRC_SINC_FASTEST, 1); rc != 0)
            return fail(std::string("resampling failed: ") + src_strerror(rc));
        resampled.resize(static_cast<std::size_t>(data.output_frames_gen));
    }
    std::vector<std::int16_t> out(resampled.size());
    src_float_to_short_array(resampled.data(), out.data(), static_cast<int>(resampled.size()));
    return out;
}

}  // namespace veld::speech
