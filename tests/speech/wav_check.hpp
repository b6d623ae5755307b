// Reading what the speaker wrote, independently of libsndfile: a RIFF/WAVE parser of our own for
// 16-bit PCM, loudness and pitch measures, and sox's own figures for a stretch of a file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace veld::test {

struct Wav {
    int rate = 0;
    int channels = 0;
    std::vector<std::int16_t> samples;  // interleaved
};

/// Reads a 16-bit PCM WAV file; throws std::runtime_error when it is not one.
Wav readWav(const std::string& path);

/// Root mean square of samples[start, start + count), on the int16 scale.
double rms(const std::vector<std::int16_t>& samples, std::int64_t start, std::int64_t count);
/// The frequency of a tone from its zero crossings.
double toneFrequency(const std::vector<std::int16_t>& samples, std::int64_t start,
                     std::int64_t count, int rate);

/// What `sox FILE -n trim STARTs COUNTs stat` says.
struct SoxStat {
    double seconds = 0;
    double rms = 0;        // "RMS amplitude", 0..1
    double frequency = 0;  // "Rough frequency"
};
SoxStat soxStat(const std::string& path, std::int64_t start, std::int64_t count);

}  // namespace veld::test
