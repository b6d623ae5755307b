#include "console.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>

#include <imgui.h>

#include <veld/expression.hpp>
#include <veld/sealed_record.hpp>

#include "../form_view.hpp"
#include "../ui.hpp"

namespace veld::client::console {

namespace {

std::int64_t systemNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// "veld-admin.NAME.SECRET" -> NAME (the part staff recognise; the secret is never shown).
std::string staffOf(const std::string& credential) {
    const std::string prefix = "veld-admin.";
    if (credential.rfind(prefix, 0) != 0) return {};
    const auto dot = credential.find('.', prefix.size());
    if (dot == std::string::npos) return {};
    return credential.substr(prefix.size(), dot - prefix.size());
}

struct Loaded {
    std::vector<ConsoleForm> forms;
    std::vector<sync::DeviceInfo> devices;
    std::optional<sync::admin::StatusInfo> status;
    std::string error;
};

}  // namespace

std::string dayText(std::int32_t day) {
    return expr::formatIsoDate(day);
}

std::optional<std::int64_t> parseDay(std::string_view text) {
    auto days = expr::parseIsoDate(text);
    if (!days) return std::nullopt;
    return *days * 86'400'000;
}

Console::Console(ConsoleOptions options) : m_options(std::move(options)) {
    if (!m_options.nowMs) m_options.nowMs = systemNowMs;
    language = m_options.uiLanguage == "en" ? "en" : "nl";
    fonts = FontSet::load(m_options.scale, m_options.fontDir);
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;  // nothing about use is written to disk
    io.LogFilename = nullptr;
    ImGuiStyle& style = ImGui::GetStyle();
    style.FramePadding = ImVec2(8 * m_options.scale, 5 * m_options.scale);
    style.ItemSpacing = ImVec2(8 * m_options.scale, 6 * m_options.scale);
    style.CellPadding = ImVec2(6 * m_options.scale, 3 * m_options.scale);
    style.FrameRounding = 3;
    style.ScrollbarSize = 16 * m_options.scale;
    exports.folder = m_options.exportDir;
    keyRing.ringFile = m_options.ringFile;
    keyRing.passphrase.reserve(256);  // typing then never moves it, leaving copies behind
    if (!m_options.ringPassphrase.empty()) openRing(m_options.ringFile, m_options.ringPassphrase);
    signInScreen.collector = m_options.connection.collector;
    signInScreen.caFile = m_options.connection.caFile;
    if (!m_options.connection.credential.empty()) signIn(m_options.connection);
}

Console::~Console() {
    if (exports.run) exports.run->cancel = true;
    exportWorker.drain();
    worker.drain();
}

void Console::signIn(sync::Connection connection) {
    m_options.connection = std::move(connection);
    m_staff = staffOf(m_options.connection.credential);
    m_client = std::make_shared<sync::AdminClient>(m_options.connection);
    m_exportClient.reset();
    signInScreen.working = true;
    signInScreen.error.clear();
    // The dashboard's call doubles as the check of the credential.
    api([](sync::AdminClient& client) { return client.status(); },
        [this](Result<sync::admin::StatusInfo> status) {
            signInScreen.working = false;
            if (!status) {
                signInScreen.error = status.error().code == ErrorCode::Refused
                                         ? std::string(t(M::ConsoleSignInRefused))
                                         : status.error().message;
                m_client.reset();
                return;
            }
            signInScreen.credential.clear();  // kept by the client only
            m_signedIn = true;
            dashboard.status = std::move(status.value());
            refreshAll();
        });
}

std::shared_ptr<const std::vector<projectkey::SecretKey>> Console::projectKeys() const {
    return m_projectKeys;
}

void Console::setProjectKeys(std::shared_ptr<const std::vector<projectkey::SecretKey>> keys) {
    if (keys && keys->empty()) keys.reset();
    m_projectKeys = std::move(keys);
    // Revisions decoded with the old keys: opened ones must close, shut ones may open now.
    m_shown.clear();
}

void Console::refreshAll() {
    if (!m_client) return;
    dashboard.loading = true;
    devicesTab.loading = true;
    api(
        [](sync::AdminClient& client) {
            Loaded out;
            auto published = client.forms();
            if (!published) {
                out.error = published.error().message;
                return out;
            }
            for (auto& f : published.value()) {
                auto compiled = forms::CompiledForm::load(std::move(f.binary));
                if (!compiled) continue;  // a form this console cannot read is left out
                out.forms.push_back({f.formId, f.version, f.pilot, std::move(compiled.value())});
            }
            auto enrolled = client.devices();
            auto status = client.status();
            if (!enrolled || !status) {
                out.error = !enrolled ? enrolled.error().message : status.error().message;
                return out;
            }
            out.devices = std::move(enrolled.value());
            out.status = std::move(status.value());
            return out;
        },
        [this](Loaded loaded) {
            dashboard.loading = false;
            devicesTab.loading = false;
            if (!loaded.error.empty()) {
                toast(loaded.error, true);
                return;
            }
            forms = std::move(loaded.forms);
            m_shown.clear();  // a form that was unknown may be known now
            devices = std::move(loaded.devices);
            dashboard.status = std::move(loaded.status);
            review.dirty = conflicts.dirty = duplicates.dirty = cases.dirty = true;
        });
}

std::shared_ptr<sync::AdminClient> Console::exportClient() {
    if (!m_exportClient) m_exportClient = std::make_shared<sync::AdminClient>(m_options.connection);
    return m_exportClient;
}

void Console::toast(std::string message, bool isError) {
    m_toast = std::move(message);
    m_toastError = isError;
    m_toastUntilMs = now() + (isError ? 8000 : 4000);
}

void Console::go(Tab next) {
    tab = next;
    if (next == Tab::Review) review.dirty = true;
    if (next == Tab::Conflicts) conflicts.dirty = true;
    if (next == Tab::Cases) cases.dirty = true;
    if (next == Tab::Duplicates) duplicates.dirty = true;
}

const ConsoleForm* Console::form(const std::string& id, std::uint32_t version) const {
    for (const auto& f : forms) {
        if (f.id == id && f.version == version) return &f;
    }
    return nullptr;
}

std::vector<const ConsoleForm*> Console::newestForms() const {
    std::map<std::string, const ConsoleForm*> newest;
    for (const auto& f : forms) {
        auto& slot = newest[f.id];
        if (!slot || slot->version < f.version) slot = &f;
    }
    std::vector<const ConsoleForm*> out;
    for (const auto& [id, f] : newest)
        out.push_back(f);
    return out;
}

std::string Console::deviceName(const Uuid& id) const {
    for (const auto& d : devices) {
        if (d.deviceId != id) continue;
        // The collector's own device: the revisions staff made (merges).
        if (d.staff) return std::string(t(M::ConsoleStaffDevice));
        return d.label.empty() ? id.toString().substr(0, 8) : d.label;
    }
    return id.toString().substr(0, 8);
}

const ShownRevision& Console::show(const sync::StoredRevision& revision) {
    const auto key = std::make_tuple(revision.deviceId, revision.seq, language);
    if (auto it = m_shown.find(key); it != m_shown.end()) return it->second;
    if (m_shown.size() >= 16) m_shown.clear();
    return m_shown.emplace(key, decodeForShow(revision)).first->second;
}

ShownRevision Console::decodeForShow(const sync::StoredRevision& revision) const {
    ShownRevision out;
    out.formId = revision.formId;
    if (revision.damaged || revision.body.empty()) {
        out.problem = std::string(t(M::ConsoleRevisionDamaged));
        return out;
    }
    auto decoded = decodeRecord(revision.body);
    if (!decoded) {
        out.problem = std::string(t(M::ConsoleRevisionUnreadable));
        return out;
    }
    Record record = std::move(decoded.value());
    out.formVersion = record.content.formVersion;
    if (record.sealed) {
        // Opened here, in memory, with the unlocked keys; the collector only ever has the box.
        out.sealed = true;
        out.keyId = record.sealed->keyId;
        std::span<const projectkey::SecretKey> unlocked;
        if (m_projectKeys) unlocked = *m_projectKeys;
        auto opened = openRecord(record, unlocked);
        if (!opened) {
            out.locked = opened.error().code == ErrorCode::NotFound;
            const M why = !out.locked        ? M::ConsoleSealedUnopened
                          : unlocked.empty() ? M::ConsoleSealedLocked
                                             : M::ConsoleSealedOtherKey;
            out.problem = format(t(why), {out.keyId});
            return out;
        }
        record = std::move(opened.value());
    }
    const RecordContent& content = record.content;
    const ConsoleForm* f = form(content.formId, content.formVersion);
    if (!f) {
        out.problem =
            format(t(M::ConsoleFormUnknown), {content.formId, std::to_string(content.formVersion)});
        return out;
    }
    const fb::Form& def = f->compiled->form();
    const std::string& fallback = f->compiled->defaultLanguage();
    const std::string lang = formLanguage(def, language) ? language : fallback;
    using Items = flatbuffers::Vector<flatbuffers::Offset<fb::Item>>;
    std::function<void(const Items*, const std::vector<Answer>&, const std::vector<Repeat>&,
                       const std::string&, const std::string&, const std::string&)>
        walk = [&](const Items* items, const std::vector<Answer>& answers,
                   const std::vector<Repeat>& repeats, const std::string& prefix,
                   const std::string& labelPrefix, const std::string& top) {
            if (!items) return;
            for (const auto* item : *items) {
                const std::string name = item->name()->str();
                const std::string label = labelPrefix + localized(item->labels(), lang, fallback);
                if (item->kind() == fb::ItemKind::Group) {
                    walk(item->children(), answers, repeats, prefix, labelPrefix, top);
                } else if (item->kind() == fb::ItemKind::Repeat) {
                    for (const auto& r : repeats) {
                        if (r.name != name) continue;
                        for (std::size_t i = 0; i < r.instances.size(); ++i) {
                            const std::string n = std::to_string(i + 1);
                            walk(item->children(), r.instances[i].answers, r.instances[i].repeats,
                                 prefix + name + "#" + n + "/", label + " " + n + ": ",
                                 top.empty() ? name : top);
                        }
                    }
                } else if (item->type() != fb::QuestionType::Note) {
                    for (const auto& a : answers) {
                        if (a.name != name) continue;
                        out.rows.push_back({prefix + name, top.empty() ? name : top, label,
                                            formatAnswer(def, *item, a.value, lang)});
                    }
                }
            }
        };
    walk(def.items(), content.answers, content.repeats, "", "", "");
    return out;
}

void Console::drawTop() {
    ImGui::TextUnformatted(std::string(t(M::ConsoleTitle)).c_str());
    ImGui::SameLine();
    ImGui::TextDisabled("%s",
                        format(t(M::ConsoleSignedInAs), {m_staff, connection().collector}).c_str());
    ui::recordLast("console.who",
                   format(t(M::ConsoleSignedInAs), {m_staff, connection().collector}));
    ImGui::SameLine(ImGui::GetWindowWidth() - 230 * m_options.scale);
    if (ui::button("console.language", language == "nl" ? "English" : "Nederlands")) {
        language = language == "nl" ? "en" : "nl";
    }
    ImGui::SameLine();
    if (ui::button("console.refresh", t(M::Refresh), 0, 0, !worker.busy())) {
        refreshAll();
        go(tab);
    }
    struct TabEntry {
        Tab tab;
        M label;
        const char* id;
    };
    const TabEntry tabs[] = {
        {Tab::Dashboard, M::ConsoleTabDashboard, "tab.dashboard"},
        {Tab::Devices, M::ConsoleTabDevices, "tab.devices"},
        {Tab::Forms, M::ConsoleTabForms, "tab.forms"},
        {Tab::Review, M::ConsoleTabReview, "tab.review"},
        {Tab::Conflicts, M::ConsoleTabConflicts, "tab.conflicts"},
        {Tab::Cases, M::ConsoleTabCases, "tab.cases"},
        {Tab::Duplicates, M::ConsoleTabDuplicates, "tab.duplicates"},
        {Tab::Export, M::ConsoleTabExport, "tab.export"},
        {Tab::Keys, M::ConsoleTabKeys, "tab.keys"},
    };
    bool first = true;
    for (const auto& entry : tabs) {
        if (!first) ImGui::SameLine();
        first = false;
        const bool current = tab == entry.tab;
        if (current)
            ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetColorU32(ImGuiCol_ButtonActive));
        std::string label(t(entry.label));
        if (entry.tab == Tab::Conflicts && dashboard.status &&
            dashboard.status->stats.conflicts > 0) {
            label += " (" + std::to_string(dashboard.status->stats.conflicts) + ")";
        }
        if (entry.tab == Tab::Cases && !cases.conflicts.empty()) {
            label += " (" + std::to_string(cases.conflicts.size()) + ")";
        }
        if (entry.tab == Tab::Keys && m_projectKeys) {
            label = format(t(M::ConsoleTabKeysOpen), {std::to_string(m_projectKeys->size())});
        }
        if (ui::button(entry.id, label)) go(entry.tab);
        if (current) ImGui::PopStyleColor();
    }
    ImGui::Separator();
}

void Console::drawToast() {
    // In the strip below the tabs' window, as in the client: a message covers no control.
    static const std::string kNone;
    const bool shown = !m_toast.empty() && now() <= m_toastUntilMs;
    ui::messageStrip(shown ? m_toast : kNone, m_toastError);
}

void Console::frame() {
    worker.pump();
    exportWorker.pump();
    keyWorker.pump();
    ui::beginFrame();
    if (fonts.normal) ImGui::PushFont(fonts.normal);
    const ImGuiIO& io = ImGui::GetIO();
    ImGui::SetNextWindowPos(ImVec2(0, 0));
    ImGui::SetNextWindowSize(ImVec2(io.DisplaySize.x, io.DisplaySize.y - ui::messageStripHeight()));
    ImGui::Begin("##console", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoBringToFrontOnFocus);
    if (!m_signedIn) {
        drawSignIn(*this, signInScreen);
    } else {
        drawTop();
        switch (tab) {
            case Tab::Dashboard:
                drawDashboard(*this, dashboard);
                break;
            case Tab::Devices:
                drawDevices(*this, devicesTab);
                break;
            case Tab::Forms:
                drawForms(*this, formsTab);
                break;
            case Tab::Review:
                drawReview(*this, review);
                break;
            case Tab::Conflicts:
                drawConflicts(*this, conflicts);
                break;
            case Tab::Cases:
                drawCaseTab(*this, cases);
                break;
            case Tab::Duplicates:
                drawDuplicates(*this, duplicates);
                break;
            case Tab::Export:
                drawExport(*this, exports);
                break;
            case Tab::Keys:
                drawKeys(*this, keyRing);
                break;
        }
    }
    ImGui::End();
    drawToast();
    if (fonts.normal) ImGui::PopFont();
}

void drawSignIn(Console& console, SignInState& state) {
    ui::heading(console.t(M::ConsoleTitle), false);
    ui::hint(console.t(M::ConsoleSignInHint), false);
    ImGui::Spacing();
    ImGui::PushItemWidth(-1);
    ui::paragraph(console.t(M::ConsoleCollectorUrl), false);
    ui::input("signin.collector", state.collector, "https://collector.example.nl:8470");
    ui::paragraph(console.t(M::ConsoleCredential), false);
    ui::input("signin.credential", state.credential, "veld-admin.NAME...", false, true,
              ImGuiInputTextFlags_Password);
    ui::paragraph(console.t(M::ConsoleCaFile), false);
    ui::input("signin.ca", state.caFile);
    ImGui::PopItemWidth();
    if (!state.error.empty()) ui::error(state.error, false);
    const bool ready = !state.working && !state.collector.empty() && !state.credential.empty();
    if (ui::button("signin.go", console.t(M::ConsoleSignIn), 0, 0, ready)) {
        sync::Connection c;
        c.collector = state.collector;
        c.credential = state.credential;
        c.caFile = state.caFile;
        if (auto ok = sync::checkUrl(c.collector, false); !ok) {
            state.error = ok.error().message;
        } else {
            console.signIn(std::move(c));
        }
    }
    if (state.working) ui::hint(console.t(M::ConsoleWorking), false);
}

void drawDevices(Console& console, DevicesState& state) {
    ui::heading(console.t(M::ConsoleTabDevices), false);
    if (state.loading && console.devices.empty()) {
        ui::hint(console.t(M::ConsoleWorking), false);
        return;
    }
    // The collector's own staff device is no enrolled device: it is left out.
    std::vector<const sync::DeviceInfo*> enrolled;
    for (const auto& d : console.devices) {
        if (!d.staff) enrolled.push_back(&d);
    }
    if (enrolled.empty()) {
        ui::paragraph(console.t(M::ConsoleNoDevices), false);
        return;
    }
    const ImGuiTableFlags flags =
        ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingStretchProp;
    if (!ImGui::BeginTable("devices", 7, flags)) return;
    for (M h : {M::ConsoleDevice, M::ConsoleDeviceId, M::ConsoleEnrolled, M::ConsoleLastContact,
                M::ConsoleWaiting, M::ConsoleRevisions, M::ConsoleByStick}) {
        ImGui::TableSetupColumn(std::string(console.t(h)).c_str());
    }
    ImGui::TableHeadersRow();
    int i = 0;
    for (const sync::DeviceInfo* device : enrolled) {
        const sync::DeviceInfo& d = *device;
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        std::string name = d.label.empty() ? std::string("-") : d.label;
        if (d.revokedUtcMs) name += " (" + std::string(console.t(M::ConsoleRevoked)) + ")";
        ImGui::TextUnformatted(name.c_str());
        ui::recordLast("device." + std::to_string(i) + ".name", name);
        ImGui::TableNextColumn();
        ImGui::TextDisabled("%s", d.deviceId.toString().substr(0, 8).c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(ui::localDateTime(d.enrolledUtcMs).c_str());
        ImGui::TableNextColumn();
        const std::string contact = d.lastContactUtcMs ? ui::localDateTime(*d.lastContactUtcMs)
                                                       : std::string(console.t(M::Never));
        ImGui::TextUnformatted(contact.c_str());
        ui::recordLast("device." + std::to_string(i) + ".contact", contact);
        ImGui::TableNextColumn();
        const std::string waiting = d.waiting ? std::to_string(*d.waiting) : std::string("-");
        ImGui::TextUnformatted(waiting.c_str());
        ui::recordLast("device." + std::to_string(i) + ".waiting", waiting);
        ImGui::TableNextColumn();
        ImGui::Text("%lld", static_cast<long long>(d.revisions));
        ui::recordLast("device." + std::to_string(i) + ".revisions", std::to_string(d.revisions));
        ImGui::TableNextColumn();
        const std::string bundle =
            d.lastBundle ? format(console.t(M::ConsoleLastBundle), {std::to_string(*d.lastBundle)})
                         : std::string("-");
        ImGui::TextUnformatted(bundle.c_str());
        ui::recordLast("device." + std::to_string(i) + ".bundle", bundle);
        ++i;
    }
    ImGui::EndTable();
    ui::hint(console.t(M::ConsoleWaitingHint), false);
}

void drawDuplicates(Console& console, DuplicatesState& state) {
    ui::heading(console.t(M::ConsoleTabDuplicates), false);
    if (state.dirty && !state.loading) {
        state.dirty = false;
        state.loading = true;
        console.api([](sync::AdminClient& c) { return c.duplicates(); },
                    [&console, &state](Result<std::vector<sync::DuplicateGroup>> groups) {
                        state.loading = false;
                        if (!groups) return console.toast(groups.error().message, true);
                        state.groups = std::move(groups.value());
                    });
    }
    ui::hint(console.t(M::ConsoleDuplicatesHint), false);
    if (state.groups.empty()) {
        ui::paragraph(console.t(state.loading ? M::ConsoleWorking : M::ConsoleNoDuplicates), false);
        return;
    }
    int i = 0;
    for (const auto& g : state.groups) {
        const M kind = g.kind == sync::DuplicateGroup::Kind::SamePseudonym ? M::ConsoleSamePseudonym
                                                                           : M::ConsoleSameAnswers;
        const M decision = g.decision == sync::DuplicateDecision::SamePerson ? M::ConsoleSamePerson
                           : g.decision == sync::DuplicateDecision::DifferentPeople
                               ? M::ConsoleDifferentPeople
                               : M::ConsoleUndecided;
        const std::string line =
            plural(kind, static_cast<std::int64_t>(g.records.size()), console.language,
                   {g.question, std::to_string(g.records.size())}) +
            "  -  " + std::string(console.t(decision));
        if (ui::selectable("dup.row." + std::to_string(i), line, state.selected == g.key)) {
            state.selected = g.key;
            state.comment = g.comment;
        }
        ++i;
    }
    for (const auto& g : state.groups) {
        if (g.key != state.selected) continue;
        ImGui::Separator();
        ui::paragraph(plural(M::ConsoleGroupRecords, static_cast<std::int64_t>(g.records.size()),
                             console.language),
                      false);
        int n = 0;
        for (const auto& r : g.records) {
            ImGui::BulletText("%s", r.toString().c_str());
            ui::recordLast("dup.record." + std::to_string(n++), r.toString());
        }
        if (g.decision != sync::DuplicateDecision::Undecided) {
            ui::hint(format(console.t(M::ConsoleDecidedBy),
                            {g.decidedBy, ui::localDateTime(g.decidedUtcMs)}),
                     false);
        }
        ui::paragraph(console.t(M::ConsoleComment), false);
        ui::input("dup.comment", state.comment);
        auto decide = [&console, &state, key = g.key](sync::DuplicateDecision d) {
            sync::admin::DecideRequest request{key, d, state.comment};
            state.loading = true;
            console.api([request](sync::AdminClient& c) { return c.decide(request); },
                        [&console, &state](Result<std::vector<sync::DuplicateGroup>> groups) {
                            state.loading = false;
                            if (!groups) return console.toast(groups.error().message, true);
                            state.groups = std::move(groups.value());
                            console.toast(std::string(console.t(M::ConsoleDecisionSaved)));
                        });
        };
        if (ui::button("dup.same", console.t(M::ConsoleSamePerson), 0, 0, !state.loading)) {
            decide(sync::DuplicateDecision::SamePerson);
        }
        ImGui::SameLine();
        if (ui::button("dup.different", console.t(M::ConsoleDifferentPeople), 0, 0,
                       !state.loading)) {
            decide(sync::DuplicateDecision::DifferentPeople);
        }
    }
}

}  // namespace veld::client::console
