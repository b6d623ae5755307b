// The outputs: the sound device through ALSA (non-blocking, every wait bounded), and a WAV file
// written by libsndfile in real time or as fast as it can be made.
#include <chrono>
#include <fstream>
#include <thread>

#include <alsa/asoundlib.h>
#include <sndfile.h>

#include "audio.hpp"

namespace veld::speech::detail {

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

class WavSink final : public Sink {
  public:
    WavSink(std::string path, double pace) : m_path(std::move(path)), m_pace(pace) {}
    ~WavSink() override {
        if (m_file) sf_close(m_file);
    }

    bool open(std::string& why) override {
        SF_INFO info{};
        info.samplerate = kSampleRate;
        info.channels = 1;
        info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
        m_file = sf_open(m_path.c_str(), SFM_WRITE, &info);
        if (!m_file) {
            why = "cannot write " + m_path + ": " + sf_strerror(nullptr);
            return false;
        }
        // The header is right after every write: the file can be read while it grows.
        sf_command(m_file, SFC_SET_UPDATE_HEADER_AUTO, nullptr, SF_TRUE);
        m_keys.open(m_path + ".keys", std::ios::trunc);
        m_start = Clock::now();
        return true;
    }

    bool write(const std::int16_t* pcm, std::size_t frames, const std::atomic<bool>& cancel,
               std::string& why) override {
        // In blocks of 20 ms, so that a replaced reading stops within one.
        constexpr std::size_t kBlock = kSampleRate / 50;
        while (frames > 0 && !cancel) {
            const std::size_t n = std::min(frames, kBlock);
            if (sf_writef_short(m_file, pcm, static_cast<sf_count_t>(n)) !=
                static_cast<sf_count_t>(n)) {
                why = "cannot write " + m_path + ": " + sf_strerror(m_file);
                return false;
            }
            pcm += n;
            frames -= n;
            m_written += static_cast<std::int64_t>(n);
            if (m_pace > 0) {
                const auto due =
                    m_start +
                    std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                        static_cast<double>(m_written) / kSampleRate / m_pace));
                std::this_thread::sleep_until(due);
            }
        }
        return true;
    }

    void drop() override {
        // A file has nothing queued; real time restarts from here (an idle gap is not written).
        m_start = Clock::now() -
                  std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                      m_pace > 0 ? static_cast<double>(m_written) / kSampleRate / m_pace : 0.0));
    }

    void mark(std::int64_t frame, const std::string& key) override {
        m_keys << frame << '\t' << key << '\n' << std::flush;
    }

  private:
    std::string m_path;
    double m_pace;
    SNDFILE* m_file = nullptr;
    std::ofstream m_keys;
    Clock::time_point m_start;
    std::int64_t m_written = 0;
};

}  // namespace

std::unique_ptr<Sink> alsaSink(std::string device) {
    return std::make_unique<AlsaSink>(std::move(device));
}

std::unique_ptr<Sink> wavSink(std::string path, double pace) {
    return std::make_unique<WavSink>(std::move(path), pace);
}

}  // namespace veld::speech::detail
