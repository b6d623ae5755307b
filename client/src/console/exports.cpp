// Exports from the console: the collector writes the files (the same exporter as `veldctl
// export`), the console follows its progress and then fetches the files into a folder here.
// When the console holds unlocked project keys, sealed records must be opened here (private
// keys never go to the collector): the collector then writes a records file (the bodies as
// stored), the console fetches it into a private folder, runs the same exporter itself with its
// keys, and deletes the records file.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <imgui.h>
#include <imgui_stdlib.h>

#include <veld/platform/files.hpp>
#include <veld/private_files.hpp>
#include <veld/sealed_record.hpp>
#include <veld/sync/records_file.hpp>

#include "../form_view.hpp"
#include "../ui.hpp"
#include "console.hpp"

namespace veld::client::console {

namespace {

using Keys = std::shared_ptr<const std::vector<projectkey::SecretKey>>;

// ExportRun::phase while the exporter runs here, over a fetched records file.
constexpr int kPhaseExportingHere = 4;

struct Outcome {
    std::vector<std::string> files;
    std::int64_t records = 0;
    std::int64_t unreadable = 0;
    std::int64_t sealedUnopened = 0;
    bool openedHere = false;  // exported here with the console's keys
    std::string error;
};

// A folder of our own (mode 0700) for the fetched records file, deleted with all in it however
// the export ends: the file holds sealed bodies, and other records' answers in the clear.
class PrivateFolder {
  public:
    PrivateFolder() = default;
    ~PrivateFolder() {
        if (m_path.empty()) return;
        std::error_code ignored;
        std::filesystem::remove_all(platform::fsPath(m_path), ignored);
    }
    PrivateFolder(const PrivateFolder&) = delete;
    PrivateFolder& operator=(const PrivateFolder&) = delete;

    // Makes it inside `parent`, hidden.
    Status make(const std::string& parent) {
        auto made = platform::makeUniquePrivateFolder(parent, ".veld-records-");
        if (!made) return made.error();
        m_path = std::move(made.value());
        return {};
    }
    [[nodiscard]] const std::string& path() const { return m_path; }

  private:
    std::string m_path;
};

// Runs on the export worker: start, follow, fetch, then discard the job's files at the collector.
// With keys, what is fetched is a records file that the exporter then reads here. However it
// ends, nothing stays at the collector, and a failed export leaves no partial set of files in
// the folder (a main table without its repeat tables would mislead).
Outcome runExport(sync::AdminClient& client, ExportRun& run, sync::admin::ExportRequest request,
                  const std::string& folder, const Keys& keys, const std::string& cancelled,
                  const std::string& failed) {
    Outcome out;
    std::string job;
    auto fail = [&](std::string message) {
        if (!job.empty()) (void)client.exportJob(job, true);
        for (const auto& f : out.files) {
            std::error_code ignored;
            std::filesystem::remove(f, ignored);
        }
        out.files.clear();
        out.error = std::move(message);
        run.phase = 3;
        return out;
    };
    const sync::ExportFormat tables = request.format;
    if (keys) request.format = sync::ExportFormat::Records;
    auto started = client.startExport(request);
    if (!started) return fail(started.error().message);
    job = started.value().job;
    sync::admin::ExportJob state = started.value();
    int pollFailures = 0;
    while (state.state == sync::admin::ExportJob::State::Running) {
        if (run.cancel) return fail(cancelled);
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        auto next = client.exportJob(job);
        if (!next) {
            // A lost answer or two (a flaky link) is not the export's end; a job held by another
            // collector process (409, the collector's words say which) is.
            if (next.error().code != ErrorCode::WrongState && ++pollFailures < 5) continue;
            return fail(next.error().message);
        }
        pollFailures = 0;
        state = std::move(next.value());
        run.done = state.done;
        run.total = state.total;
    }
    if (state.state != sync::admin::ExportJob::State::Done) {
        return fail(state.error.empty() ? failed : failed + ": " + state.error);
    }
    run.done = state.records;
    run.total = state.records;
    std::int64_t bytesTotal = 0;
    for (const auto& f : state.files)
        bytesTotal += f.bytes;
    run.bytesTotal = bytesTotal;
    run.phase = 1;
    // Exported files hold the pilots' data: a folder made here is the owner's only (0700).
    if (auto s = files::makePrivateFolder(folder); !s) return fail(s.error().message);
    PrivateFolder fetched;
    if (keys && state.files.size() != 1) return fail(failed);
    if (keys) {
        if (auto s = fetched.make(folder); !s) return fail(s.error().message);
    }
    std::int64_t before = 0;
    std::vector<std::string> paths;
    for (const auto& f : state.files) {
        if (run.cancel) return fail(cancelled);
        const std::string path = platform::utf8Path(
            platform::fsPath(keys ? fetched.path() : folder) / platform::fsPath(f.name));
        auto got = client.download(
            job, f, path,
            [&run, before](std::int64_t done, std::int64_t) { run.bytesDone = before + done; },
            &run.cancel);
        if (!got) return fail(run.cancel ? cancelled : got.error().message);
        before += f.bytes;
        (keys ? paths : out.files).push_back(path);
    }
    (void)client.exportJob(job, true);  // the files are here now; none stay at the collector
    job.clear();
    if (!keys) {
        out.records = state.records;
        out.unreadable = state.unreadable;
        out.sealedUnopened = state.sealedUnopened;
        run.phase = 2;
        return out;
    }

    // The exporter, here, over the fetched records file, with the keys.
    run.done = 0;
    run.total = state.records;
    run.phase = kPhaseExportingHere;
    auto source = sync::RecordsFile::open(paths.front());
    if (!source) return fail(source.error().message);
    sync::ExportOptions options;
    options.formId = request.formId;
    options.filter = request.filter;
    options.format = tables;
    options.language = request.language;
    options.values = request.values;
    options.directory = folder;
    options.keys = *keys;
    options.progress = [&run](std::int64_t done, std::int64_t total) {
        run.done = done;
        run.total = total;
    };
    options.cancel = &run.cancel;
    auto made = sync::exportForm(*source.value(), options);
    if (!made) return fail(run.cancel ? cancelled : made.error().message);
    out.files = made->files;
    out.records = made->records;
    out.unreadable = made->unreadable;
    out.sealedUnopened = made->sealedUnopened;
    out.openedHere = true;
    run.phase = 2;
    return out;  // the records file goes with `fetched`
}

}  // namespace

void drawExport(Console& console, ExportState& state) {
    ui::heading(console.t(M::ConsoleTabExport), false);
    const std::vector<const ConsoleForm*> forms = console.newestForms();
    if (forms.empty()) {
        ui::paragraph(console.t(M::ConsoleNoForms), false);
        return;
    }
    // The form is kept by id: a refresh that brings a newly published form must not move the
    // choice to another one.
    std::size_t chosen = 0;
    for (std::size_t i = 0; i < forms.size(); ++i) {
        if (forms[i]->id == state.form) chosen = i;
    }
    const ConsoleForm& form = *forms[chosen];
    state.form = form.id;
    const fb::Form& def = form.compiled->form();
    const bool idle = !state.running;
    ImGui::BeginDisabled(!idle);

    const M labels[] = {M::ConsoleExportForm,     M::ConsoleExportFormat, M::ConsoleExportValues,
                        M::ConsoleExportLanguage, M::ConsoleExportReview, M::ConsoleExportFrom,
                        M::ConsoleExportUntil,    M::ConsoleExportFolder};
    float labelW = 0;
    for (M m : labels)
        labelW = std::max(labelW, ImGui::CalcTextSize(std::string(console.t(m)).c_str()).x);
    labelW += ImGui::GetStyle().ItemSpacing.x * 3;
    auto label = [&](M m) {
        ImGui::AlignTextToFramePadding();
        ImGui::TextUnformatted(std::string(console.t(m)).c_str());
        ImGui::SameLine(labelW);
        ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.85f);
    };
    label(M::ConsoleExportForm);
    const std::string current = formTitle(def, console.language) + " (" + form.id + ")";
    if (ImGui::BeginCombo("##form", current.c_str())) {
        for (std::size_t i = 0; i < forms.size(); ++i) {
            const std::string text =
                formTitle(forms[i]->compiled->form(), console.language) + " (" + forms[i]->id + ")";
            if (ui::selectable("export.form." + forms[i]->id, text, i == chosen)) {
                state.form = forms[i]->id;
                state.language = 0;
            }
        }
        ImGui::EndCombo();
    }
    ui::recordLast("export.form", current);

    label(M::ConsoleExportFormat);
    const std::pair<sync::ExportFormat, const char*> formats[] = {
        {sync::ExportFormat::Csv, "CSV"},
        {sync::ExportFormat::Sav, "SPSS (.sav)"},
        {sync::ExportFormat::Dta, "Stata (.dta)"},
        {sync::ExportFormat::Xlsx, "Excel (.xlsx)"}};
    for (std::size_t i = 0; i < std::size(formats); ++i) {
        const int value = static_cast<int>(formats[i].first);
        if (i > 0) ImGui::SameLine();
        if (ImGui::RadioButton(formats[i].second, state.format == value)) state.format = value;
        ui::recordLast(
            std::string("export.format.") + std::string(sync::exportFormatName(formats[i].first)),
            formats[i].second);
    }

    label(M::ConsoleExportValues);
    const std::pair<sync::ExportValues, M> values[] = {
        {sync::ExportValues::Codes, M::ConsoleExportCodes},
        {sync::ExportValues::Labels, M::ConsoleExportLabels}};
    for (std::size_t i = 0; i < std::size(values); ++i) {
        const int value = static_cast<int>(values[i].first);
        const std::string text(console.t(values[i].second));
        if (i > 0) ImGui::SameLine();
        if (ImGui::RadioButton(text.c_str(), state.values == value)) state.values = value;
        ui::recordLast(
            std::string("export.values.") + std::string(sync::exportValuesName(values[i].first)),
            text);
    }

    label(M::ConsoleExportLanguage);
    std::vector<std::pair<std::string, std::string>> languages;
    if (def.languages()) {
        for (const auto* l : *def.languages()) {
            languages.emplace_back(l->tag()->str(), l->name() ? l->name()->str() : l->tag()->str());
        }
    }
    if (state.language >= static_cast<int>(languages.size())) state.language = 0;
    const std::string langShown = languages.empty()
                                      ? std::string("-")
                                      : languages[static_cast<std::size_t>(state.language)].second;
    if (ImGui::BeginCombo("##language", langShown.c_str())) {
        for (std::size_t i = 0; i < languages.size(); ++i) {
            if (ui::selectable("export.language." + languages[i].first, languages[i].second,
                               static_cast<int>(i) == state.language)) {
                state.language = static_cast<int>(i);
            }
        }
        ImGui::EndCombo();
    }

    label(M::ConsoleExportReview);
    const M reviewLabels[] = {M::ConsoleEveryRecord,     M::ConsoleReviewReceived,
                              M::ConsoleReviewHasIssues, M::ConsoleReviewApproved,
                              M::ConsoleReviewRejected,  M::ConsoleReviewCorrected};
    if (ImGui::BeginCombo("##review", std::string(console.t(reviewLabels[state.review])).c_str())) {
        for (int i = 0; i < static_cast<int>(std::size(reviewLabels)); ++i) {
            if (ui::selectable("export.review." + std::to_string(i), console.t(reviewLabels[i]),
                               i == state.review)) {
                state.review = i;
            }
        }
        ImGui::EndCombo();
    }
    ui::recordLast("export.review", console.t(reviewLabels[state.review]));

    label(M::ConsoleExportFrom);
    ImGui::InputTextWithHint("##from", std::string(console.t(M::DateHint)).c_str(), &state.from);
    ui::recordLast("export.from", state.from);
    label(M::ConsoleExportUntil);
    ImGui::InputTextWithHint("##until", std::string(console.t(M::DateHint)).c_str(), &state.until);
    ui::recordLast("export.until", state.until);
    label(M::ConsoleExportFolder);
    ImGui::InputText("##folder", &state.folder);
    ui::recordLast("export.folder", state.folder);
    ImGui::EndDisabled();

    // Where sealed records open: here with the unlocked keys, or not at all.
    const Keys keys = console.projectKeys();
    const bool sealedForm = formIsSealed(def);
    if (keys) {
        ui::hint(console.t(M::ConsoleExportWithKeys), false);
    } else if (sealedForm) {
        ui::hint(console.t(M::ConsoleExportWithoutKeys), false);
    }

    const std::optional<std::int64_t> from =
        state.from.empty() ? std::nullopt : parseDay(state.from);
    const std::optional<std::int64_t> until =
        state.until.empty() ? std::nullopt : parseDay(state.until);
    const bool datesOk = (state.from.empty() || from) && (state.until.empty() || until);
    if (!datesOk) ui::error(console.t(M::NotADate), false);
    ImGui::Spacing();
    if (ui::button("export.start", console.t(M::ConsoleExportStart), 0, 0,
                   idle && datesOk && !state.folder.empty())) {
        sync::admin::ExportRequest request;
        request.formId = form.id;
        request.format = static_cast<sync::ExportFormat>(state.format);
        request.values = static_cast<sync::ExportValues>(state.values);
        if (!languages.empty())
            request.language = languages[static_cast<std::size_t>(state.language)].first;
        request.filter.fromUtcMs = from;
        request.filter.untilUtcMs = until;
        if (state.review > 0) request.filter.review = static_cast<ReviewState>(state.review - 1);
        auto run = std::make_shared<ExportRun>();
        state.run = run;
        state.running = true;
        state.error.clear();
        state.saved.clear();
        console.exportWorker.run(
            [client = console.exportClient(), run, request, folder = state.folder, keys,
             cancelled = std::string(console.t(M::ConsoleExportCancelled)),
             failed = std::string(console.t(M::ConsoleExportFailed))] {
                return runExport(*client, *run, request, folder, keys, cancelled, failed);
            },
            [&console, &state](Outcome outcome) {
                state.running = false;
                if (!outcome.error.empty()) {
                    state.error = outcome.error;
                    console.toast(outcome.error, true);
                    return;
                }
                state.saved = std::move(outcome.files);
                state.records = outcome.records;
                state.unreadable = outcome.unreadable;
                state.sealedUnopened = outcome.sealedUnopened;
                state.openedHere = outcome.openedHere;
                console.toast(std::string(console.t(M::ConsoleExportDone)));
            });
    }
    if (state.running) {
        ImGui::SameLine();
        if (ui::button("export.cancel", console.t(M::Cancel))) state.run->cancel = true;
    }
    if (state.run && state.running) {
        const ExportRun& run = *state.run;
        if (run.phase == 0 || run.phase == kPhaseExportingHere) {
            const std::int64_t total = run.total;
            const float f =
                total > 0 ? static_cast<float>(run.done) / static_cast<float>(total) : 0;
            const std::string text =
                plural(run.phase == 0 ? M::ConsoleExportAtCollector : M::ConsoleExportOpening,
                       total, console.language, {std::to_string(run.done), std::to_string(total)});
            ImGui::ProgressBar(f, ImVec2(-1, 0), text.c_str());
            ui::recordLast("export.progress", text);
        } else {
            const std::int64_t total = run.bytesTotal;
            const float f =
                total > 0 ? static_cast<float>(run.bytesDone) / static_cast<float>(total) : 1;
            const std::string text = format(console.t(M::ConsoleExportFetching),
                                            {std::to_string((run.bytesDone + 1023) / 1024),
                                             std::to_string((total + 1023) / 1024)});
            ImGui::ProgressBar(f, ImVec2(-1, 0), text.c_str());
            ui::recordLast("export.progress", text);
        }
    }
    if (!state.error.empty()) ui::error(state.error, false);
    if (!state.saved.empty()) {
        const std::string saved =
            format(console.t(M::ConsoleExportSaved),
                   {plural(M::ConsoleRecordCount, state.records, console.language),
                    plural(M::ConsoleFileCount, static_cast<std::int64_t>(state.saved.size()),
                           console.language)});
        ui::paragraph(saved, false);
        ui::recordLast("export.saved", saved);
        // Sealed records not opened are told apart from damaged ones: they need keys, not a
        // device's attention.
        const std::int64_t damaged = state.unreadable - state.sealedUnopened;
        if (damaged > 0) {
            ui::error(plural(M::ConsoleExportUnreadable, damaged, console.language), false);
        }
        if (state.sealedUnopened > 0) {
            const std::string sealed = plural(
                state.openedHere ? M::ConsoleExportSealedUnopened : M::ConsoleExportSealedClosed,
                state.sealedUnopened, console.language);
            ui::error(sealed, false);
            ui::recordLast("export.sealed", sealed);
        }
        int i = 0;
        for (const auto& f : state.saved) {
            ImGui::BulletText("%s", f.c_str());
            ui::recordLast("export.file." + std::to_string(i++), f);
        }
    }
}

}  // namespace veld::client::console
