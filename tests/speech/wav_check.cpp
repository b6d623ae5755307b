#include "wav_check.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/test_support.hpp"

namespace veld::test {

namespace {

std::uint32_t le32(const char* p) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(p[0])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(p[1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(p[2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(p[3])) << 24;
}
std::uint16_t le16(const char* p) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) |
                                      static_cast<unsigned char>(p[1]) << 8);
}

}  // namespace

Wav readWav(const std::string& path) {
    const std::string bytes = readFile(path);
    if (bytes.size() < 12 || bytes.compare(0, 4, "RIFF") != 0 || bytes.compare(8, 4, "WAVE") != 0)
        throw std::runtime_error(path + ": not a RIFF/WAVE file");
    Wav wav;
    int bits = 0;
    bool haveData = false;
    for (std::size_t pos = 12; pos + 8 <= bytes.size();) {
        const std::string id = bytes.substr(pos, 4);
        const std::uint32_t size = le32(bytes.data() + pos + 4);
        const std::size_t body = pos + 8;
        if (body + size > bytes.size()) throw std::runtime_error(path + ": chunk past the end");
        if (id == "fmt ") {
            if (le16(bytes.data() + body) != 1) throw std::runtime_error(path + ": not PCM");
            wav.channels = le16(bytes.data() + body + 2);
            wav.rate = static_cast<int>(le32(bytes.data() + body + 4));
            bits = le16(bytes.data() + body + 14);
        } else if (id == "data") {
            wav.samples.resize(size / 2);
            std::memcpy(wav.samples.data(), bytes.data() + body, wav.samples.size() * 2);
            haveData = true;
        }
        pos = body + size + (size & 1);
    }
    if (bits != 16 || !haveData) throw std::runtime_error(path + ": not 16-bit PCM with data");
    return wav;
}

double rms(const std::vector<std::int16_t>& samples, std::int64_t start, std::int64_t count) {
    double sum = 0;
    std::int64_t n = 0;
    for (std::int64_t i = start; i < start + count && i < static_cast<std::int64_t>(samples.size());
         ++i, ++n) {
        const double v = samples[static_cast<std::size_t>(i)];
        sum += v * v;
    }
    return n == 0 ? 0 : std::sqrt(sum / static_cast<double>(n));
}

double toneFrequency(const std::vector<std::int16_t>& samples, std::int64_t start,
                     std::int64_t count, int rate) {
    std::int64_t crossings = 0;
    for (std::int64_t i = start + 1; i < start + count; ++i) {
        const auto a = samples[static_cast<std::size_t>(i - 1)];
        const auto b = samples[static_cast<std::size_t>(i)];
        if ((a < 0 && b >= 0) || (a >= 0 && b < 0)) ++crossings;
    }
    return static_cast<double>(crossings) / 2 / (static_cast<double>(count) / rate);
}

SoxStat soxStat(const std::string& path, std::int64_t start, std::int64_t count) {
    const auto r = runProcess({"/usr/bin/sox", path, "-n", "trim", std::to_string(start) + "s",
                               std::to_string(count) + "s", "stat"});
    if (r.exitCode != 0) throw std::runtime_error("sox failed: " + r.err);
    SoxStat s;
    std::istringstream lines(r.err);  // sox writes stat to stderr
    std::string line;
    auto value = [](const std::string& l) { return std::stod(l.substr(l.find(':') + 1)); };
    while (std::getline(lines, line)) {
        if (line.rfind("Length (seconds):", 0) == 0) s.seconds = value(line);
        if (line.rfind("RMS     amplitude:", 0) == 0) s.rms = value(line);
        if (line.rfind("Rough   frequency:", 0) == 0) s.frequency = value(line);
    }
    return s;
}

}  // namespace veld::test
