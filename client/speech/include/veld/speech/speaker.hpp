// Reading aloud: a list of utterances (a question, its hint, its choices) spoken in order on a
// thread of its own, from recorded clips where there are some and from espeak-ng elsewhere, to
// the sound device (ALSA on Linux, waveOut on Windows), a WAV file, or nowhere. Nothing here blocks
// the caller: a missing or stalled sound device becomes a status, never a wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace veld::speech {

/// Everything is played as 16-bit mono PCM at espeak-ng's own rate; clips are resampled to it.
inline constexpr int kSampleRate = 22050;

/// One thing to say.
struct Utterance {
    std::string key;                 // tells which item is being read (current())
    std::string text;                // spoken by espeak-ng when there is no clip
    std::string language;            // the form's language tag ("nl", "ar", "ti")
    std::vector<std::uint8_t> clip;  // a recording (WAV, FLAC, Ogg, MP3); empty: synthesise
};

/// Where sound goes. From VELD_AUDIO: unset or "alsa" (ALSA's "default" device, which reaches
/// PipeWire or PulseAudio when they run), "alsa:NAME", "wav:PATH" (a WAV file, written in real
/// time, with the keys read in PATH.keys), "none". On Windows the sound device is "waveout"
/// (the one chosen in Windows' sound settings) or "waveout:NAME" (a device's name as Windows
/// lists it, or its number from 0) instead of "alsa".
struct Output {
    enum class Kind { Device, Wav, None };
    Kind kind = Kind::Device;
    std::string target = "default";  // the sound device, or the WAV file
    double pace = 1;                 // WAV: 1 = real time, 0 = as fast as it can be made
};
/// Reads an output description (VELD_AUDIO's syntax); nullopt when it makes no sense.
std::optional<Output> parseOutput(std::string_view spec);
/// The descriptions parseOutput takes, for messages ("alsa[:DEVICE], wav:FILE or none").
std::string outputForms();

enum class Status {
    Starting,  // the output is being opened
    Ready,
    NoDevice,  // the sound device could not be opened, or stopped taking sound
    Off,       // no output chosen (VELD_AUDIO=none)
};

/// One utterance as it was played: where its sound starts in the output and how long it is.
struct Played {
    std::string key;
    std::int64_t start = 0;   // frames since the output was opened
    std::int64_t frames = 0;  // of speech or clip, without the pause after it
    bool clip = false;
};

class Speaker {
  public:
    explicit Speaker(Output output);
    ~Speaker();
    Speaker(const Speaker&) = delete;
    Speaker& operator=(const Speaker&) = delete;

    /// Replaces whatever is being read by `items`, read in order; returns at once.
    void say(std::vector<Utterance> items);
    /// Stops reading; returns at once.
    void stop();
    /// The key of the utterance being heard now; empty when nothing is.
    [[nodiscard]] std::string current() const;
    /// Whether something is being read or waits to be.
    [[nodiscard]] bool busy() const;
    /// Whether anything can be heard in `language`: a recorded clip, or an espeak-ng voice.
    [[nodiscard]] bool canRead(std::string_view language, bool hasClip) const;
    [[nodiscard]] bool hasVoice(std::string_view language) const;
    [[nodiscard]] Status status() const;
    /// Why the output is not ready (the device's error), for logs and settings.
    [[nodiscard]] std::string statusDetail() const;
    /// Everything played since the output was opened, in order.
    [[nodiscard]] std::vector<Played> played() const;
    /// Waits until nothing is being read (tests); false when `limit` passed first.
    bool waitIdle(std::chrono::milliseconds limit) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m;
};

/// A recorded clip decoded from memory and brought to kSampleRate mono; nullopt with `error`
/// set when libsndfile cannot read it or it is longer than `maxSeconds`.
std::optional<std::vector<std::int16_t>> decodeClip(std::span<const std::uint8_t> bytes,
                                                    std::string* error, double maxSeconds = 300);

/// Speech for `text` in `language` at kSampleRate mono; empty when there is no voice for it.
std::vector<std::int16_t> synthesize(std::string_view text, std::string_view language);

}  // namespace veld::speech
