// The WAV file output: written by libsndfile in real time or as fast as it can be made. The sound
// device is in sinks_alsa.cpp (Linux) and sinks_windows.cpp (Windows).
#include <chrono>
#include <fstream>
#include <thread>

#include <sndfile.h>

#include "audio.hpp"

namespace veld::speech::detail {

namespace {

using Clock = std::chrono::steady_clock;

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

std::unique_ptr<Sink> wavSink(std::string path, double pace) {
    return std::make_unique<WavSink>(std::move(path), pace);
}

}  // namespace veld::speech::detail
