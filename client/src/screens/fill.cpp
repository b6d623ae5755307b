// Filling a record: pages of the form, autosave on every change, finalize with the problems to
// fix; and the read-only view of a finalized record.
#include <imgui.h>

#include <veld/sealed_record.hpp>

#include "../app.hpp"
#include "../ui.hpp"

namespace veld::client {

namespace {

// Posts a draft save of what the session holds now.
void postSave(App& app, FillState& state) {
    const RecordContent content = state.view.session->content();
    const std::string summary = state.view.summary();
    state.savedChanges = state.view.changes;
    state.saving = true;
    auto slot = state.workerId;
    app.withStore(
        [slot, content, summary](Store& store) -> Result<Uuid> {
            if (*slot) {
                Status s = store.updateDraft(**slot, content, summary);
                if (!s) return s.error();
                return **slot;
            }
            auto id = store.saveDraft(content, summary);
            if (id) *slot = id.value();
            return id;
        },
        [&app, &state, slot](Result<Uuid> result) {
            if (slot != state.workerId) return;  // the record was closed meanwhile
            state.saving = false;
            if (!result) {
                state.saveError = result.error().describe();
                app.toast(std::string(app.t(M::SaveFailed)), true);
                return;
            }
            state.saveError.clear();
            state.recordId = result.value();
        });
}

// Where leaving the filling screen leads: back to the case it was started from, else `other`.
void leaveFill(App& app, Screen other) {
    const std::optional<Uuid> caseId = app.fill.fromCase ? app.fill.caseId : std::nullopt;
    app.go(caseId ? Screen::Cases : other);
    if (caseId && app.screen == Screen::Cases) openCase(app, *caseId);
}

// What a finalize brought back: the store's answer and, for a record that allocated, the
// allocation as the store wrote it.
struct FinalizeOutcome {
    Result<Finalized> result;
    std::optional<Allocation> allocation;
    std::string caseLabel;
};

void postFinalize(App& app, FillState& state, RecordContent content) {
    const std::string summary = state.view.summary();
    state.saving = true;
    state.finalizing = true;
    state.allocationError.clear();
    const bool allocates = content.allocate.has_value();
    const std::string study = allocates ? content.allocate->study : std::string();
    const std::string stratum = allocates ? content.allocate->stratum : std::string();
    auto slot = state.workerId;
    app.withStore(
        [slot, content = std::move(content), summary, allocates](Store& store) {
            FinalizeOutcome out{*slot ? store.finalize(**slot, content, summary)
                                      : store.finalizeNew(content, summary),
                                std::nullopt,
                                {}};
            if (!out.result || !allocates) return out;
            // The arm is read back from what the store wrote, never taken from the request.
            if (auto stored = store.get(out.result->id); stored) {
                out.allocation = stored->record.content.allocation;
            }
            if (content.caseId) {
                if (auto info = store.caseInfo(*content.caseId); info) {
                    out.caseLabel = caseLabel(info.value());
                    if (!out.allocation) {
                        const std::string arm = info->property(kCaseArmProperty);
                        if (!arm.empty()) {
                            out.allocation.emplace();
                            out.allocation->arm = arm;
                        }
                    }
                }
            }
            return out;
        },
        [&app, &state, slot, allocates, study, stratum](FinalizeOutcome outcome) {
            if (slot != state.workerId) return;
            state.saving = false;
            state.finalizing = false;
            state.allocationConfirmed = false;
            // The stock as it was before this finalize (the refresh below lands later).
            bool noneLeft = false;
            for (const AllocationStock& s : app.stock) {
                noneLeft =
                    noneLeft || (s.study == study && s.stratum == stratum && s.remaining == 0);
            }
            if (allocates) app.refreshStock();
            if (!outcome.result) {
                const Error& error = outcome.result.error();
                state.saveError = error.describe();
                // The store refuses an allocation (none left, or the case or person has one
                // already) with WrongState, saving nothing: the draft stays as it was. The usual
                // reason, none left, is said in the UI's language; others as the store words them.
                if (allocates && error.code == ErrorCode::WrongState) {
                    // Out of stock names the stratum in quotes; a case or person randomised
                    // already (checked first, so also with none left) does not.
                    const bool outOfStock =
                        noneLeft && error.message.find('"' + stratum + '"') != std::string::npos;
                    state.allocationError = format(
                        app.t(state.sealed ? M::AllocationRefusedSealed : M::AllocationRefused),
                        {outOfStock ? std::string(app.t(M::AllocationNoneLeft)) : error.message});
                    app.toast(state.allocationError, true);
                } else {
                    app.toast(std::string(app.t(M::FinalizeFailed)), true);
                }
                return;
            }
            if (allocates) {
                AllocationNotice notice;
                notice.study = outcome.allocation && !outcome.allocation->study.empty()
                                   ? outcome.allocation->study
                                   : study;
                if (outcome.allocation) notice.arm = outcome.allocation->arm;
                notice.caseLabel = outcome.caseLabel;
                app.allocationNotice = std::move(notice);
            }
            state.view.clear();
            state.recordId.reset();
            state.workerId = std::make_shared<std::optional<Uuid>>();
            state.problems.clear();
            app.toast(std::string(app.t(M::Finalized)));
            app.recordFinalized();
            app.cases.dirty = true;
            leaveFill(app, Screen::Home);
        });
}

// Asks before a finalize that randomises: the allocation cannot be undone, and the field worker
// should know which study it is for (and when this device has no slot left for it).
void drawAllocationConfirm(App& app, FillState& state) {
    if (!ui::beginDialog("fill.randomise", app.t(M::RandomiseTitle),
                         state.confirmAllocation.has_value()))
        return;
    const AllocationRequest request = *state.confirmAllocation;
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32);
    const std::string text = format(app.t(M::RandomiseConfirm), {request.study});
    ui::paragraph(text, false);
    ui::recordLast("fill.randomise.text", text);
    if (!request.stratum.empty()) {
        ui::hint(format(app.t(M::RandomiseStratum), {stratumText(request.stratum)}), false);
    }
    for (const AllocationStock& s : app.stock) {
        if (s.study == request.study && s.stratum == request.stratum && s.remaining == 0) {
            ui::error(app.t(M::RandomiseNoStock), false);
            ui::recordLast("fill.randomise.no_stock", app.t(M::RandomiseNoStock));
        }
    }
    ImGui::PopTextWrapPos();
    if (ui::button("fill.randomise.confirm", app.t(M::RandomiseGo))) {
        state.confirmAllocation.reset();
        state.allocationConfirmed = true;
        state.finalizeRequested = true;
        ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (ui::button("fill.randomise.cancel", app.t(M::Cancel))) {
        state.confirmAllocation.reset();
        ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
}

}  // namespace

static bool sealedFormReady(App& app, const fb::Form& form) {
    if (!formIsSealed(form) || app.settings.projectKey) return true;
    app.toast(std::string(app.t(M::SealedNeedsKey)), true);
    return false;
}

void startNewRecord(App& app, const FormEntry& form) {
    if (!sealedFormReady(app, form.compiled->form())) return;
    const bool fromCases = app.screen == Screen::Cases;
    closeFill(app);
    FillState& state = app.fill;
    state.sealed = formIsSealed(form.compiled->form());
    const std::string lang = app.defaultFormLanguage(form);
    auto session = forms::FormSession::start(form.compiled, lang);
    // A form that opens a case gets its new case id from the session; started on the case
    // screen, finalizing goes back there to the new case.
    state.caseId = session.caseId();
    state.fromCase = fromCases && state.caseId.has_value();
    state.view.start(form.compiled, std::move(session), lang, false, false);
    state.savedChanges = 0;
    app.screen = Screen::Fill;
}

void startCaseRecord(App& app, const FormEntry& form, const CaseInfo& info) {
    if (!sealedFormReady(app, form.compiled->form())) return;
    closeFill(app);
    FillState& state = app.fill;
    state.sealed = formIsSealed(form.compiled->form());
    const std::string lang = app.defaultFormLanguage(form);
    const forms::CaseContext context = forms::CaseContext::of(info);
    state.view.start(form.compiled, forms::FormSession::start(form.compiled, lang, &context), lang,
                     false, false);
    state.caseId = info.id;
    state.caseLabel = caseLabel(info);
    state.fromCase = true;
    state.savedChanges = 0;
    app.screen = Screen::Fill;
}

void openRecord(App& app, const Uuid& id, bool fromCase) {
    // A record of a case opens with the case as the device holds it now (`${case.x}`).
    struct Opened {
        Result<StoredRecord> stored;
        std::optional<CaseInfo> caseInfo;
        std::optional<DeviceCorrection> correction;  // it came back from central staff
    };
    app.withStore(
        [id](Store& store) {
            Opened out{store.get(id), std::nullopt, std::nullopt};
            if (auto c = store.correction(id); c && c->has_value()) out.correction = **c;
            if (out.stored && out.stored->meta.caseId) {
                if (auto info = store.caseInfo(*out.stored->meta.caseId); info) {
                    out.caseInfo = std::move(info.value());
                }
            }
            return out;
        },
        [&app, fromCase](Opened opened) {
            if (!opened.stored) {
                app.toast(opened.stored.error().describe(), true);
                return;
            }
            StoredRecord stored = std::move(opened.stored.value());
            const RecordSummary meta = stored.meta;
            auto record = std::make_shared<Record>(std::move(stored.record));
            auto caseInfo = std::make_shared<std::optional<CaseInfo>>(std::move(opened.caseInfo));
            auto correction =
                std::make_shared<std::optional<DeviceCorrection>>(std::move(opened.correction));
            app.withFormVersion(
                meta.formId, meta.formVersion,
                [&app, meta, record, caseInfo, correction,
                 fromCase](Result<std::shared_ptr<const forms::CompiledForm>> form) {
                    if (!form) {
                        app.toast(std::string(app.t(M::FormMissing)), true);
                        return;
                    }
                    closeFill(app);
                    FillState& state = app.fill;
                    state.caseId = meta.caseId;
                    if (*caseInfo) state.caseLabel = caseLabel(**caseInfo);
                    state.fromCase = fromCase && meta.caseId.has_value();
                    state.correction = *correction;
                    std::string lang = record->content.paradata.language;
                    if (lang.empty() || !formLanguage(form.value()->form(), lang)) {
                        lang = form.value()->defaultLanguage();
                    }
                    if (meta.status != RecordStatus::Draft) {
                        state.viewing = true;
                        state.viewed = record->content;
                        state.viewedForm = form.value();
                        state.viewedStatus = meta.status;
                        state.viewedSealed = formIsSealed(form.value()->form());
                        app.screen = Screen::Fill;
                        return;
                    }
                    std::optional<forms::CaseContext> context;
                    if (*caseInfo) context = forms::CaseContext::of(**caseInfo);
                    auto session = forms::FormSession::open(form.value(), record->content, lang,
                                                            context ? &*context : nullptr);
                    if (!session) {
                        app.toast(session.error().describe(), true);
                        return;
                    }
                    state.view.start(form.value(), std::move(session.value()), lang, false, false);
                    // A draft made before its form was sealed: no more autosaves (the store
                    // refuses them); finalizing replaces it with the sealed record.
                    state.sealed = formIsSealed(form.value()->form());
                    state.recordId = meta.id;
                    *state.workerId = meta.id;
                    state.savedChanges = 0;
                    app.screen = Screen::Fill;
                });
        });
}

void closeFill(App& app) {
    FillState& state = app.fill;
    if (state.view.active() && state.view.changes != state.savedChanges && !state.finalizing &&
        !state.sealed) {
        postSave(app, state);  // the last answers are kept even when leaving mid-page
    }
    state.sealed = false;
    state.confirmDiscard = false;
    state.view.clear();
    state.recordId.reset();
    state.workerId = std::make_shared<std::optional<Uuid>>();
    state.saving = false;
    state.finalizeRequested = false;
    state.finalizing = false;
    state.problems.clear();
    state.saveError.clear();
    state.viewing = false;
    state.viewed.reset();
    state.viewedForm.reset();
    state.caseId.reset();
    state.caseLabel.clear();
    state.fromCase = false;
    state.confirmAllocation.reset();
    state.allocationConfirmed = false;
    state.allocationError.clear();
    state.correction.reset();
    app.refreshCounts();
}

void fillBackground(App& app, FillState& state) {
    if (!state.view.active() || state.viewing || state.finalizing) return;
    if (state.finalizeRequested) {
        state.finalizeRequested = false;
        auto content = state.view.session->finalContent();
        if (!content) {
            state.allocationConfirmed = false;
            state.problems = state.view.session->problems();
            state.view.showAll = true;
            return;
        }
        state.problems.clear();
        // Finalizing this record randomises its case, which cannot be undone: say so first.
        if (content.value().allocate && !state.allocationConfirmed) {
            state.confirmAllocation = content.value().allocate;
            return;
        }
        state.allocationConfirmed = false;  // a confirmation is for one finalize only
        postFinalize(app, state, std::move(content.value()));
        return;
    }
    // Every answer change is saved; while one save runs, later changes wait for the next frame
    // after it (so a burst of typing costs one save per round trip, and nothing is skipped).
    if (!state.saving && state.view.changes != state.savedChanges && !state.sealed)
        postSave(app, state);
}

void drawFill(App& app, FillState& state) {
    if (state.viewing) {
        if (!state.viewedForm || !state.viewed) return;
        ui::heading(formTitle(state.viewedForm->form(), app.settings.uiLanguage), false);
        ui::hint(
            app.t(state.viewedStatus == RecordStatus::Sent ? M::StatusSent : M::StatusFinalized),
            false);
        if (ui::button("fill.close", app.t(M::Close))) {
            leaveFill(app, Screen::Records);
            return;
        }
        if (state.correction) {
            // Sent back by central staff: their comment first, then what can be done.
            ImGui::Separator();
            ui::paragraph(app.t(M::CorrectionsTitle), false);
            ui::recordLast("fill.correction", app.t(M::CorrectionsTitle));
            const DeviceCorrection correction = *state.correction;  // the button may close this
            drawCorrection(app, correction, "fill.correction", true);
            if (!state.viewing) return;
        }
        ImGui::Separator();
        ImGui::BeginChild("##readonly");
        if (state.viewedSealed) {
            ui::paragraph(app.t(M::SealedNotShown), false);
        } else {
            drawReadOnly(app, *state.viewedForm, *state.viewed, app.settings.uiLanguage);
        }
        ImGui::EndChild();
        return;
    }
    FormView& view = state.view;
    if (!view.active()) {
        app.go(Screen::Home);
        return;
    }
    const fb::Form& form = view.form->form();
    ui::heading(formTitle(form, view.language), view.rtl);
    if (!state.caseLabel.empty()) {
        ui::hint(format(app.t(M::FillForCase), {state.caseLabel}), false);
    }
    if (state.correction) {
        const std::string line = format(
            app.t(M::CorrectionEditing),
            {state.correction->comment.empty() ? app.t(M::CorrectionNoComment)
                                               : std::string_view(state.correction->comment)});
        ui::paragraph(line, false);
        ui::recordLast("fill.correcting", line);
    }

    // Language of the form's texts.
    if (const FormEntry* entry = app.findForm(form.id()->str());
        entry && entry->offered.size() > 1) {
        ImGui::SetNextItemWidth(220);
        const fb::Language* current = formLanguage(form, view.language);
        const std::string currentName =
            current && current->name() ? current->name()->str() : view.language;
        if (ImGui::BeginCombo("##formlang", ui::display(currentName, false).c_str())) {
            for (const auto& tag : entry->offered) {
                const fb::Language* l = formLanguage(form, tag);
                const std::string name = l && l->name() ? l->name()->str() : tag;
                if (ImGui::Selectable(ui::display(name, false).c_str(), tag == view.language)) {
                    view.language = tag;
                    view.rtl = l && l->rtl();
                    view.buffers.clear();
                    view.heights.clear();
                }
                ui::recordLast("fill.lang." + tag, name);
            }
            ImGui::EndCombo();
        }
        ui::recordLast("fill.lang", currentName);
        ImGui::SameLine();
    }
    const forms::Progress progress = view.session->progress();
    const float fraction = progress.total > 0 ? static_cast<float>(progress.answered) /
                                                    static_cast<float>(progress.total)
                                              : 0.0f;
    ImGui::ProgressBar(fraction, ImVec2(-1, 0),
                       format(app.t(M::FillProgress),
                              {std::to_string(progress.answered), std::to_string(progress.total)})
                           .c_str());
    ui::recordLast("fill.progress",
                   std::to_string(progress.answered) + "/" + std::to_string(progress.total));
    ui::hint(format(app.t(M::FillPage), {std::to_string(view.visiblePageNumber()),
                                         std::to_string(view.visiblePageCount())}),
             false);

    float footer = ImGui::GetFrameHeightWithSpacing() * 2 +
                   (state.problems.empty() ? 0.0f : ImGui::GetFrameHeightWithSpacing() * 5);
    if (!state.allocationError.empty()) {
        footer += ImGui::CalcTextSize(state.allocationError.c_str(), nullptr, false,
                                      ImGui::GetContentRegionAvail().x)
                      .y +
                  ImGui::GetStyle().ItemSpacing.y;
    }
    ImGui::BeginChild("##page", ImVec2(0, -footer), true);
    drawPage(app, view);
    ImGui::EndChild();

    if (!state.problems.empty()) {
        ImGui::BeginChild("##problems", ImVec2(0, ImGui::GetFrameHeightWithSpacing() * 5), true);
        ui::error(plural(M::FinalizeProblems, static_cast<std::int64_t>(state.problems.size()),
                         app.settings.uiLanguage),
                  false);
        // Problems may be fixed meanwhile: list the session's current ones.
        state.problems = view.session->problems();
        for (std::size_t i = 0; i < state.problems.size(); ++i) {
            const auto& p = state.problems[i];
            ImGui::PushID(static_cast<int>(i));
            if (ui::button("fill.problem." + p.path.name, app.t(M::GoTo))) view.goTo(p.path);
            ImGui::SameLine();
            std::string itemLabel = p.path.name;
            std::function<const fb::Item*(
                const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>*)>
                find = [&](const auto* items) -> const fb::Item* {
                if (!items) return nullptr;
                for (const auto* it : *items) {
                    if (it->name()->string_view() == p.path.name) return it;
                    if (const auto* f = find(it->children())) return f;
                }
                return nullptr;
            };
            if (const fb::Item* item = find(form.items())) {
                itemLabel = localized(item->labels(), view.language, view.form->defaultLanguage());
            }
            ui::paragraph(format(app.t(M::ProblemLine),
                                 {itemLabel, problemText(app, view, p, app.settings.uiLanguage)}),
                          false);
            ImGui::PopID();
        }
        ImGui::EndChild();
    }

    if (!state.allocationError.empty()) {
        ui::error(state.allocationError, false);
        ui::recordLast("fill.allocation_error", state.allocationError);
    }
    const int prev = view.neighbour(-1);
    const int next = view.neighbour(1);
    if (ui::button("fill.prev", app.t(M::Previous), 0, 0, prev >= 0)) view.page = prev;
    ImGui::SameLine();
    if (ui::button("fill.next", app.t(M::Next), 0, 0, next >= 0)) view.page = next;
    ImGui::SameLine();
    if (ui::button("fill.finalize", app.t(M::Finalize), 0, 0, !state.finalizing)) {
        state.finalizeRequested = true;
    }
    ImGui::SameLine();
    if (state.sealed) {
        // Nothing of a sealed form is on disk before it is finalized: closing loses the answers,
        // so a form with answers asks once more.
        const bool answered = view.changes > 0;
        const std::string_view label =
            state.confirmDiscard ? app.t(M::DiscardConfirm) : app.t(M::CloseWithoutSaving);
        if (ui::button("fill.close", label, 0, 0, !state.finalizing)) {
            if (!answered || state.confirmDiscard) {
                leaveFill(app, Screen::Home);
                return;
            }
            state.confirmDiscard = true;
        }
    } else if (ui::button("fill.close", app.t(M::SaveAndClose), 0, 0, !state.finalizing)) {
        leaveFill(app, Screen::Home);
        return;
    }
    ImGui::SameLine();
    const std::string_view status = !state.saveError.empty() ? app.t(M::SaveFailed)
                                    : state.sealed           ? app.t(M::SealedInMemory)
                                    : state.saving           ? app.t(M::Saving)
                                    : state.recordId         ? app.t(M::Saved)
                                                             : app.t(M::NotSavedYet);
    if (!state.saveError.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, ui::kErrorColor);
    }
    ImGui::TextUnformatted(status.data(), status.data() + status.size());
    ui::recordLast("fill.status", status);
    if (!state.saveError.empty()) ImGui::PopStyleColor();
    drawAllocationConfirm(app, state);
}

}  // namespace veld::client
