// The sound device on Windows: winmm's waveOut, which every Windows (and Wine) has. A ring of
// short buffers is handed to the device; each wait is bounded, so a device that stops taking
// sound becomes a status, never a hang.
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

// clang-format off
#include <windows.h>
#include <mmsystem.h>
// clang-format on

#include "audio.hpp"

namespace veld::speech::detail {

const std::string_view kDeviceScheme = "waveout";

namespace {

using Clock = std::chrono::steady_clock;

// A device that takes no sound for this long is taken as gone.
constexpr auto kStallLimit = std::chrono::milliseconds(2000);
// Four buffers of 40 ms: about as much queued as the ALSA output's 150 ms, so a stopped reading
// is silent about as soon.
constexpr std::size_t kBuffers = 4;
constexpr std::size_t kBufferFrames = kSampleRate / 25;

std::string utf8(const wchar_t* text) {
    const int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, nullptr, 0, nullptr, nullptr);
    if (n <= 1) return {};
    std::string out(static_cast<std::size_t>(n), '\0');
    WideCharToMultiByte(CP_UTF8, 0, text, -1, out.data(), n, nullptr, nullptr);
    out.resize(static_cast<std::size_t>(n - 1));
    return out;
}

std::string errorText(MMRESULT rc) {
    std::array<wchar_t, MAXERRORLENGTH> text{};
    if (waveOutGetErrorTextW(rc, text.data(), static_cast<UINT>(text.size())) != MMSYSERR_NOERROR)
        return "waveOut error " + std::to_string(rc);
    return utf8(text.data());
}

// The device `name` stands for: "default" is the one chosen in Windows' sound settings, a
// number is a device's index, anything else a device's name as Windows lists it.
bool findDevice(const std::string& name, UINT& id, std::string& why) {
    if (name == "default") {
        id = WAVE_MAPPER;
        return true;
    }
    const UINT count = waveOutGetNumDevs();
    char* end = nullptr;
    const unsigned long number = std::strtoul(name.c_str(), &end, 10);
    if (!name.empty() && end && *end == '\0') {
        if (number < count) {
            id = static_cast<UINT>(number);
            return true;
        }
    } else {
        for (UINT i = 0; i < count; ++i) {
            WAVEOUTCAPSW caps{};
            if (waveOutGetDevCapsW(i, &caps, sizeof caps) == MMSYSERR_NOERROR &&
                utf8(caps.szPname) == name) {
                id = i;
                return true;
            }
        }
    }
    why = "cannot open sound device \"" + name + "\": no such device (" + std::to_string(count) +
          " present)";
    return false;
}

class WaveOutSink final : public Sink {
  public:
    explicit WaveOutSink(std::string device) : m_device(std::move(device)) {}
    ~WaveOutSink() override {
        if (m_out) {
            waveOutReset(m_out);  // returns every buffer at once
            for (auto& h : m_headers) {
                if (h.dwFlags & WHDR_PREPARED) waveOutUnprepareHeader(m_out, &h, sizeof h);
            }
            waveOutClose(m_out);
        }
        if (m_done) CloseHandle(m_done);
    }

    bool open(std::string& why) override {
        UINT id = 0;
        if (!findDevice(m_device, id, why)) return false;
        // Signalled each time the device hands a buffer back.
        m_done = CreateEventW(nullptr, FALSE, FALSE, nullptr);
        if (!m_done) {
            why = "cannot open sound device \"" + m_device + "\": no event";
            return false;
        }
        WAVEFORMATEX format{};
        format.wFormatTag = WAVE_FORMAT_PCM;
        format.nChannels = 1;
        format.nSamplesPerSec = kSampleRate;
        format.wBitsPerSample = 16;
        format.nBlockAlign = 2;
        format.nAvgBytesPerSec = kSampleRate * 2;
        const MMRESULT rc = waveOutOpen(&m_out, id, &format, reinterpret_cast<DWORD_PTR>(m_done), 0,
                                        CALLBACK_EVENT);
        if (rc != MMSYSERR_NOERROR) {
            m_out = nullptr;
            why = rc == WAVERR_BADFORMAT
                      ? "sound device \"" + m_device + "\" refuses 16-bit mono at 22050 Hz"
                      : "cannot open sound device \"" + m_device + "\": " + errorText(rc);
            return false;
        }
        for (std::size_t i = 0; i < kBuffers; ++i) {
            m_data[i].assign(kBufferFrames, 0);
            WAVEHDR& h = m_headers[i];
            h = WAVEHDR{};
            h.lpData = reinterpret_cast<LPSTR>(m_data[i].data());
            h.dwBufferLength = static_cast<DWORD>(kBufferFrames * sizeof(std::int16_t));
            const MMRESULT prepared = waveOutPrepareHeader(m_out, &h, sizeof h);
            if (prepared != MMSYSERR_NOERROR) {
                why = "sound device \"" + m_device + "\": " + errorText(prepared);
                return false;
            }
            h.dwFlags |= WHDR_DONE;  // free to fill
        }
        return true;
    }

    bool write(const std::int16_t* pcm, std::size_t frames, const std::atomic<bool>& cancel,
               std::string& why) override {
        auto lastProgress = Clock::now();
        while (frames > 0 && !cancel) {
            WAVEHDR* free = nullptr;
            std::size_t index = 0;
            for (std::size_t i = 0; i < kBuffers && !free; ++i) {
                if (m_headers[i].dwFlags & WHDR_DONE) {
                    free = &m_headers[i];
                    index = i;
                }
            }
            if (!free) {
                WaitForSingleObject(m_done, 50);
                if (Clock::now() - lastProgress > kStallLimit) {
                    why = "sound device takes no sound";
                    return false;
                }
                continue;
            }
            const std::size_t n = std::min(frames, kBufferFrames);
            std::memcpy(m_data[index].data(), pcm, n * sizeof(std::int16_t));
            free->dwBufferLength = static_cast<DWORD>(n * sizeof(std::int16_t));
            free->dwFlags &= ~static_cast<DWORD>(WHDR_DONE);
            const MMRESULT rc = waveOutWrite(m_out, free, sizeof *free);
            if (rc != MMSYSERR_NOERROR) {
                free->dwFlags |= WHDR_DONE;
                why = "sound device stopped: " + errorText(rc);
                return false;
            }
            pcm += n;
            frames -= n;
            m_written += n;
            lastProgress = Clock::now();
        }
        return true;
    }

    void drop() override {
        // Every queued buffer comes back marked done, unheard, and the position starts at 0.
        waveOutReset(m_out);
        m_written = 0;
    }

    void drain(const std::atomic<bool>& cancel) override {
        // A buffer handed back may still sit in the mixer: wait until the device's position
        // has passed everything written.
        const auto until = Clock::now() + kStallLimit;
        while (!cancel && Clock::now() < until && (queued() || played() < m_written))
            WaitForSingleObject(m_done, 10);
    }

  private:
    [[nodiscard]] bool queued() const {
        for (const auto& h : m_headers) {
            if (!(h.dwFlags & WHDR_DONE)) return true;
        }
        return false;
    }

    // Frames the device has played since it was opened or reset; all of them when it cannot
    // tell (then the buffers handed back are all there is to wait for).
    [[nodiscard]] std::size_t played() const {
        MMTIME time{};
        time.wType = TIME_SAMPLES;
        if (waveOutGetPosition(m_out, &time, sizeof time) != MMSYSERR_NOERROR ||
            time.wType != TIME_SAMPLES)
            return m_written;
        return time.u.sample;
    }

    std::string m_device;
    HWAVEOUT m_out = nullptr;
    HANDLE m_done = nullptr;
    std::size_t m_written = 0;  // frames handed to the device since it was opened or reset
    std::array<std::vector<std::int16_t>, kBuffers> m_data;
    std::array<WAVEHDR, kBuffers> m_headers{};
};

}  // namespace

std::unique_ptr<Sink> deviceSink(std::string device) {
    return std::make_unique<WaveOutSink>(std::move(device));
}

}  // namespace veld::speech::detail
