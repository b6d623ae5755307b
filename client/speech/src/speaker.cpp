// The speaker's thread: opens the output once, then reads each list of utterances in order,
// making each one's PCM just before it is played. A new list (or stop) cancels the current one
// between blocks of at most 20 ms of sound.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <veld/speech/speaker.hpp>

#include "audio.hpp"

namespace veld::speech {

std::optional<Output> parseOutput(std::string_view spec) {
    Output out;
    const std::string_view device = detail::kDeviceScheme;
    if (spec.empty() || spec == device) return out;
    if (spec == "none") {
        out.kind = Output::Kind::None;
        out.target.clear();
        return out;
    }
    if (spec.size() > device.size() + 1 && spec.substr(0, device.size()) == device &&
        spec[device.size()] == ':') {
        out.target = std::string(spec.substr(device.size() + 1));
        return out;
    }
    if (spec.substr(0, 4) == "wav:" && spec.size() > 4) {
        out.kind = Output::Kind::Wav;
        out.target = std::string(spec.substr(4));
        return out;
    }
    return std::nullopt;
}

std::string outputForms() {
    return std::string(detail::kDeviceScheme) + "[:DEVICE], wav:FILE or none";
}

namespace {
// The pause after each utterance, so that a question and each choice are heard apart.
constexpr std::size_t kPauseFrames = kSampleRate * 3 / 10;
}  // namespace

struct Speaker::Impl {
    Output output;
    std::unique_ptr<detail::Sink> sink;

    mutable std::mutex lock;
    mutable std::condition_variable wake;
    mutable std::condition_variable idle;
    std::vector<Utterance> pending;
    bool hasPending = false;
    bool reading = false;  // the thread works on a list (set by the thread alone)
    bool quit = false;
    std::atomic<bool> cancel{false};
    std::atomic<Status> status{Status::Starting};
    std::string detail;
    std::string current;
    std::vector<Played> played;
    std::int64_t frames = 0;  // written to the output since it was opened
    std::thread thread;

    void run();
    void readList(std::vector<Utterance> items);
    bool play(const std::vector<std::int16_t>& pcm);
};

void Speaker::Impl::run() {
    std::string why;
    bool ok = false;
    if (output.kind == Output::Kind::None) {
        why = "no sound output (VELD_AUDIO=none)";
    } else {
        sink = output.kind == Output::Kind::Device ? detail::deviceSink(output.target)
                                                   : detail::wavSink(output.target, output.pace);
        ok = sink->open(why);
    }
    {
        const std::lock_guard guard(lock);
        detail = why;
        status = ok ? Status::Ready
                    : (output.kind == Output::Kind::None ? Status::Off : Status::NoDevice);
    }
    idle.notify_all();
    for (;;) {
        std::vector<Utterance> items;
        {
            std::unique_lock guard(lock);
            wake.wait(guard, [&] { return quit || hasPending; });
            if (quit) break;
            items = std::move(pending);
            pending.clear();
            hasPending = false;
            cancel = false;
            reading = true;
        }
        if (status == Status::Ready) readList(std::move(items));
        {
            const std::lock_guard guard(lock);
            current.clear();
            reading = false;
        }
        idle.notify_all();
    }
    sink.reset();
}

bool Speaker::Impl::play(const std::vector<std::int16_t>& pcm) {
    std::string why;
    if (!sink->write(pcm.data(), pcm.size(), cancel, why)) {
        const std::lock_guard guard(lock);
        detail = why;
        status = Status::NoDevice;
        return false;
    }
    return !cancel;
}

void Speaker::Impl::readList(std::vector<Utterance> items) {
    sink->drop();  // what was queued of a replaced list goes
    const std::vector<std::int16_t> pause(kPauseFrames, 0);
    for (const auto& u : items) {
        if (cancel) return;
        std::vector<std::int16_t> pcm;
        bool fromClip = false;
        if (!u.clip.empty()) {
            if (auto decoded = decodeClip(u.clip, nullptr)) {
                pcm = std::move(*decoded);
                fromClip = true;
            }
        }
        // A clip that cannot be read is spoken instead, where there is a voice.
        if (!fromClip) pcm = detail::synthesize(u.text, u.language, &cancel);
        if (cancel) return;
        if (pcm.empty()) continue;  // nothing to hear in this language
        {
            const std::lock_guard guard(lock);
            current = u.key;
            played.push_back(
                Played{u.key, frames, static_cast<std::int64_t>(pcm.size()), fromClip});
        }
        sink->mark(frames, u.key);
        if (!play(pcm)) return;
        frames += static_cast<std::int64_t>(pcm.size());
        if (!play(pause)) return;
        frames += static_cast<std::int64_t>(pause.size());
    }
    sink->drain(cancel);
}

Speaker::Speaker(Output output) : m(std::make_unique<Impl>()) {
    m->output = std::move(output);
    detail::voices();  // espeak-ng reads its data once, before the thread uses it
    m->thread = std::thread([impl = m.get()] { impl->run(); });
}

Speaker::~Speaker() {
    {
        const std::lock_guard guard(m->lock);
        m->quit = true;
        m->cancel = true;
    }
    m->wake.notify_all();
    m->thread.join();
}

void Speaker::say(std::vector<Utterance> items) {
    {
        const std::lock_guard guard(m->lock);
        m->pending = std::move(items);
        m->hasPending = true;
        m->cancel = true;  // the list being read stops at its next block
    }
    m->wake.notify_all();
}

void Speaker::stop() {
    {
        const std::lock_guard guard(m->lock);
        m->pending.clear();
        m->hasPending = false;
        m->cancel = true;
    }
    // A list the thread never took is gone: whoever waits for quiet may stop waiting.
    m->idle.notify_all();
}

std::string Speaker::current() const {
    const std::lock_guard guard(m->lock);
    return m->current;
}

bool Speaker::busy() const {
    const std::lock_guard guard(m->lock);
    return m->reading || m->hasPending;
}

bool Speaker::hasVoice(std::string_view language) const {
    return !detail::voiceFor(language).empty();
}

bool Speaker::canRead(std::string_view language, bool hasClip) const {
    return hasClip || hasVoice(language);
}

Status Speaker::status() const {
    return m->status;
}

std::string Speaker::statusDetail() const {
    const std::lock_guard guard(m->lock);
    return m->detail;
}

std::vector<Played> Speaker::played() const {
    const std::lock_guard guard(m->lock);
    return m->played;
}

bool Speaker::waitIdle(std::chrono::milliseconds limit) const {
    std::unique_lock guard(m->lock);
    return m->idle.wait_for(guard, limit, [&] {
        return !m->reading && !m->hasPending && m->status != Status::Starting;
    });
}

}  // namespace veld::speech
