// Inside the speech library: making PCM (espeak-ng, clips) and the outputs that take it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <veld/speech/speaker.hpp>

namespace veld::speech::detail {

/// The language tags espeak-ng has a voice for ("nl", "en", "en-gb", ...).
const std::set<std::string, std::less<>>& voices();
/// The espeak-ng language tag that speaks `language`; empty when there is none.
std::string voiceFor(std::string_view language);
/// Speech for `text`; stops early (returning what was made) once `cancel` is set.
std::vector<std::int16_t> synthesize(std::string_view text, std::string_view language,
                                     const std::atomic<bool>* cancel);

/// Where PCM goes. Used from the speaker's thread only.
class Sink {
  public:
    virtual ~Sink() = default;
    /// Opens the output; false with `why` set when it cannot be used.
    virtual bool open(std::string& why) = 0;
    /// Plays `frames` frames; returns early when `cancel` is set. False when the output stopped
    /// taking sound (a stalled or vanished device), with `why` set.
    virtual bool write(const std::int16_t* pcm, std::size_t frames, const std::atomic<bool>& cancel,
                       std::string& why) = 0;
    /// Before each list: throws away what is queued but not yet heard (a reading was replaced),
    /// and (a WAV file written in real time) starts its clock again, so idle time is not made up.
    virtual void drop() {}
    /// Waits (bounded, cancellable) until what was written has been heard.
    virtual void drain(const std::atomic<bool>& cancel) { (void)cancel; }
    /// Notes that `key` starts at `frame` (the WAV output's PATH.keys).
    virtual void mark(std::int64_t frame, const std::string& key) { (void)frame, (void)key; }
};

/// The sound device: ALSA on Linux (sinks_alsa.cpp), waveOut on Windows (sinks_windows.cpp).
/// `device` is what follows "SCHEME:" in VELD_AUDIO, or "default".
std::unique_ptr<Sink> deviceSink(std::string device);
/// The word VELD_AUDIO names that sound device by: "alsa" or "waveout".
extern const std::string_view kDeviceScheme;
std::unique_ptr<Sink> wavSink(std::string path, double pace);

}  // namespace veld::speech::detail
