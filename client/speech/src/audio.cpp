// Making PCM: recorded clips decoded from memory (veld/sound_file.hpp), mixed down to mono and
// resampled by libsamplerate; speech comes from synth_espeak.cpp.
#include "audio.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <samplerate.h>

#include <veld/sound_file.hpp>

namespace veld::speech {

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
