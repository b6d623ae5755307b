// Recordings read from memory: whatever libsndfile reads (WAV, FLAC, Ogg Vorbis and Opus, MP3).
// One reader for both sides of a clip's life, so that what a form check accepts is what a device
// can play: the form compiler checks clips with it, and the speaker decodes them with it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

namespace veld::sound {

struct Format {
    int sampleRate = 0;
    int channels = 0;
    std::int64_t frames = 0;  // as the header says; streams (MP3, Ogg) may not know it
};

/// Called with each block of interleaved samples (-1..1), its frame count and the recording's
/// format; false stops.
using BlockFn =
    std::function<bool(const float* samples, std::int64_t frames, const Format& format)>;

/// Opens `bytes` as a recording and hands its samples to `block`, a block at a time, until the
/// end or until `block` says stop. The format, or nullopt with `error` set ("is not a recording
/// libsndfile can read ...", "has no sample rate or no channels", "does not decode: ...").
std::optional<Format> read(std::span<const std::uint8_t> bytes, const BlockFn& block,
                           std::string* error);

}  // namespace veld::sound
