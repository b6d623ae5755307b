// The sound device on Linux: ALSA, non-blocking, every wait bounded.
#include <chrono>
#include <thread>

#include <alsa/asoundlib.h>

#include "audio.hpp"

namespace veld::speech::detail {

const std::string_view kDeviceScheme = "alsa";

namespace {

using Clock = std::chrono::steady_clock;

// A device that takes no sound for this long is taken as gone.
constexpr auto kStallLimit = std::chrono::milliseconds(2000);

void quietAlsa(const char*, int, const char*, int, const char*, ...) {}

class AlsaSink final : public Sink {
  public:
    explicit AlsaSink(std::string device) : m_device(std::move(device)) {}
    ~AlsaSink() override {
        if (m_pcm) {
            snd_pcm_drop(m_pcm);
            snd_pcm_close(m_pcm);
        }
    }

    bool open(std::string& why) override {
        // ALSA reports to stderr by default; its errors come back as our status instead.
        snd_lib_error_set_handler(quietAlsa);
        // Non-blocking: a device held by another program fails at once instead of waiting.
        int rc = snd_pcm_open(&m_pcm, m_device.c_str(), SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK);
        if (rc < 0) {
            m_pcm = nullptr;
            why = "cannot open sound device \"" + m_device + "\": " + snd_strerror(rc);
            return false;
        }
        rc = snd_pcm_set_params(m_pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 1,
                                kSampleRate, 1, 150'000);
        if (rc < 0) {
            why = "sound device \"" + m_device +
                  "\" refuses 16-bit mono at 22050 Hz: " + snd_strerror(rc);
            snd_pcm_close(m_pcm);
            m_pcm = nullptr;
            return false;
        }
        return true;
    }

    bool write(const std::int16_t* pcm, std::size_t frames, const std::atomic<bool>& cancel,
               std::string& why) override {
        auto lastProgress = Clock::now();
        while (frames > 0 && !cancel) {
            const snd_pcm_sframes_t n =
                snd_pcm_writei(m_pcm, pcm, static_cast<snd_pcm_uframes_t>(frames));
            if (n > 0) {
                pcm += n;
                frames -= static_cast<std::size_t>(n);
                lastProgress = Clock::now();
                continue;
            }
            if (n == -EAGAIN || n == 0) {
                snd_pcm_wait(m_pcm, 50);
            } else if (snd_pcm_recover(m_pcm, static_cast<int>(n), 1) < 0) {
                why = std::string("sound device stopped: ") + snd_strerror(static_cast<int>(n));
                return false;
            }
            if (Clock::now() - lastProgress > kStallLimit) {
                why = "sound device takes no sound";
                return false;
            }
        }
        return true;
    }

    void drop() override {
        snd_pcm_drop(m_pcm);
        snd_pcm_prepare(m_pcm);
    }

    void drain(const std::atomic<bool>& cancel) override {
        // Non-blocking snd_pcm_drain would return at once: wait for the queue to empty, bounded.
        const auto until = Clock::now() + kStallLimit;
        while (!cancel && Clock::now() < until) {
            snd_pcm_sframes_t delay = 0;
            if (snd_pcm_delay(m_pcm, &delay) < 0 || delay <= 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

  private:
    std::string m_device;
    snd_pcm_t* m_pcm = nullptr;
};

}  // namespace

std::unique_ptr<Sink> deviceSink(std::string device) {
    return std::make_unique<AlsaSink>(std::move(device));
}

}  // namespace veld::speech::detail
