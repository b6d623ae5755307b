#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include <sndfile.h>

#include <veld/sound_file.hpp>

namespace veld::sound {

namespace {

// libsndfile reads from memory through these callbacks.
struct MemoryFile {
    std::span<const std::uint8_t> bytes;
    sf_count_t pos = 0;
};

sf_count_t memLength(void* user) {
    return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->bytes.size());
}
sf_count_t memSeek(sf_count_t offset, int whence, void* user) {
    auto* f = static_cast<MemoryFile*>(user);
    const auto size = static_cast<sf_count_t>(f->bytes.size());
    sf_count_t to = offset;
    if (whence == SEEK_CUR) to = f->pos + offset;
    if (whence == SEEK_END) to = size + offset;
    f->pos = std::clamp<sf_count_t>(to, 0, size);
    return f->pos;
}
sf_count_t memRead(void* out, sf_count_t count, void* user) {
    auto* f = static_cast<MemoryFile*>(user);
    const auto size = static_cast<sf_count_t>(f->bytes.size());
    const sf_count_t n = std::clamp<sf_count_t>(size - f->pos, 0, std::max<sf_count_t>(count, 0));
    if (n > 0) std::memcpy(out, f->bytes.data() + f->pos, static_cast<std::size_t>(n));
    f->pos += n;
    return n;
}
sf_count_t memWrite(const void*, sf_count_t, void*) {
    return 0;
}
sf_count_t memTell(void* user) {
    return static_cast<MemoryFile*>(user)->pos;
}

}  // namespace

std::optional<Format> read(std::span<const std::uint8_t> bytes, const BlockFn& block,
                           std::string* error) {
    auto fail = [&](std::string why) -> std::optional<Format> {
        if (error) *error = std::move(why);
        return std::nullopt;
    };
    MemoryFile file{bytes};
    SF_VIRTUAL_IO io{memLength, memSeek, memRead, memWrite, memTell};
    SF_INFO info{};
    SNDFILE* opened = sf_open_virtual(&io, SFM_READ, &info, &file);
    if (!opened) {
        return fail(
            std::string("is not a recording libsndfile can read (WAV, FLAC, Ogg Vorbis or Opus, "
                        "MP3): ") +
            sf_strerror(nullptr));
    }
    std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> sf(opened, sf_close);
    if (info.samplerate <= 0 || info.channels <= 0 || info.channels > 16)
        return fail("has no sample rate or no channels");
    const Format format{info.samplerate, info.channels, info.frames};
    constexpr sf_count_t kBlockFrames = 4096;
    std::vector<float> buffer(static_cast<std::size_t>(kBlockFrames * info.channels));
    for (;;) {
        const sf_count_t n = sf_readf_float(sf.get(), buffer.data(), kBlockFrames);
        if (n <= 0) break;
        if (!block(buffer.data(), n, format)) break;
    }
    if (sf_error(sf.get()) != SF_ERR_NO_ERROR)
        return fail(std::string("does not decode: ") + sf_strerror(sf.get()));
    return format;
}

}  // namespace veld::sound
