// The project key ring in the console: staff open it with its passphrase to see the answers of
// sealed records. Unlocking runs on the key worker (Argon2id takes about a second per key); the
// keys stay in this process's memory only, and the passphrase is wiped as soon as it is used.
#include <fstream>
#include <optional>
#include <sstream>

#include <imgui.h>
#include <sodium.h>

#include <veld/platform/files.hpp>

#include "../ui.hpp"
#include "console.hpp"

namespace veld::client::console {

namespace {

using Keys = std::vector<projectkey::SecretKey>;

// What an unlocking ends with: the keys, or why there are none (in the UI language later).
struct Unlocked {
    std::shared_ptr<const Keys> keys;
    std::optional<M> problem;
    std::string detail;
};

Unlocked unlockRing(const std::string& ringFile, std::string_view passphrase) {
    Unlocked out;
    std::ifstream in(platform::fsPath(ringFile));
    std::stringstream text;
    if (!in || !(text << in.rdbuf())) {
        out.problem = M::ConsoleKeysUnreadable;
        out.detail = ringFile;
        return out;
    }
    auto ring = projectkey::parseRing(text.str());
    if (!ring) {
        out.problem = M::ConsoleKeysDamaged;
        out.detail = ring.error().message;
        return out;
    }
    if (ring->empty()) {
        out.problem = M::ConsoleKeysEmpty;
        out.detail = ringFile;
        return out;
    }
    auto unlocked = projectkey::unlockAll(ring.value(), passphrase);
    if (!unlocked) {
        // Errors name keys, never the passphrase.
        out.problem = unlocked.error().code == ErrorCode::WrongState ? M::ConsoleKeysWrongPassphrase
                                                                     : M::ConsoleKeysFailed;
        out.detail = unlocked.error().message;
        return out;
    }
    out.keys = std::make_shared<const Keys>(std::move(unlocked.value()));
    return out;
}

}  // namespace

void wipe(std::string& secret) {
    if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
    secret.clear();
}

void Console::openRing(const std::string& ringFile, std::string& passphrase) {
    // The worker's copy has room for all of it up front (no reallocation leaves a copy behind)
    // and is wiped when the last holder lets go of it.
    auto secret = std::shared_ptr<std::string>(new std::string, [](std::string* s) {
        wipe(*s);
        delete s;
    });
    secret->reserve(passphrase.size());
    secret->append(passphrase);
    wipe(passphrase);
    keyRing.unlocking = true;
    keyRing.error.clear();
    const std::uint64_t generation = ++m_unlockGeneration;
    keyWorker.run([ringFile, secret] { return unlockRing(ringFile, *secret); },
                  [this, generation](Unlocked outcome) {
                      if (generation != m_unlockGeneration) return;  // closed meanwhile
                      keyRing.unlocking = false;
                      if (outcome.problem) {
                          keyRing.error = format(t(*outcome.problem), {outcome.detail});
                          return;
                      }
                      setProjectKeys(std::move(outcome.keys));
                      toast(std::string(t(M::ConsoleKeysOpened)));
                  });
}

void Console::closeKeys() {
    ++m_unlockGeneration;
    keyRing.unlocking = false;
    keyRing.error.clear();
    setProjectKeys(nullptr);
}

void drawKeys(Console& console, KeysState& state) {
    ui::heading(console.t(M::ConsoleTabKeys), false);
    ui::hint(console.t(M::ConsoleKeysHint), false);
    ImGui::Spacing();
    if (const auto open = console.projectKeys()) {
        std::string ids;
        for (const auto& k : *open) {
            if (!ids.empty()) ids += ", ";
            ids += k.id();
        }
        const std::string line = format(console.t(M::ConsoleKeysOpen), {ids});
        ui::paragraph(line, false, ui::kOkColor);
        ui::recordLast("keys.ids", ids);
        if (ui::button("keys.close", console.t(M::ConsoleKeysClose))) console.closeKeys();
    } else {
        ui::paragraph(console.t(M::ConsoleKeysNone), false);
    }
    ImGui::Separator();
    ImGui::PushItemWidth(-1);
    ui::paragraph(console.t(M::ConsoleKeysRingFile), false);
    ui::input("keys.ring", state.ringFile, "project.ring", false, !state.unlocking);
    ui::paragraph(console.t(M::ConsoleKeysPassphrase), false);
    ui::input("keys.passphrase", state.passphrase, {}, false, !state.unlocking,
              ImGuiInputTextFlags_Password | ImGuiInputTextFlags_NoUndoRedo);
    ImGui::PopItemWidth();
    const bool ready = !state.unlocking && !state.ringFile.empty() && !state.passphrase.empty();
    if (ui::button("keys.open", console.t(M::ConsoleKeysOpenRing), 0, 0, ready)) {
        ui::wipeTextEdit();
        console.openRing(state.ringFile, state.passphrase);
    }
    if (state.unlocking) ui::hint(console.t(M::ConsoleKeysUnlocking), false);
    if (!state.error.empty()) {
        ui::error(state.error, false);
        ui::recordLast("keys.error", state.error);
    }
}

}  // namespace veld::client::console
