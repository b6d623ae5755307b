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

void postFinalize(App& app, FillState& state, RecordContent content) {
    const std::string summary = state.view.summary();
    state.saving = true;
    state.finalizing = true;
    auto slot = state.workerId;
    app.withStore(
        [slot, content = std::move(content), summary](Store& store) -> Result<Finalized> {
            if (*slot) return store.finalize(**slot, content, summary);
            return store.finalizeNew(content, summary);
        },
        [&app, &state, slot](Result<Finalized> result) {
            if (slot != state.workerId) return;
            state.saving = false;
            state.finalizing = false;
            if (!result) {
                state.saveError = result.error().describe();
                app.toast(std::string(app.t(M::FinalizeFailed)), true);
                return;
            }
            state.view.clear();
            state.recordId.reset();
            state.workerId = std::make_shared<std::optional<Uuid>>();
            state.problems.clear();
            app.toast(std::string(app.t(M::Finalized)));
            app.go(Screen::Home);
        });
}

}  // namespace

static bool sealedFormReady(App& app, const fb::Form& form) {
    if (!formIsSealed(form) || app.settings.projectKey) return true;
    app.toast(std::string(app.t(M::SealedNeedsKey)), true);
    return false;
}

void startNewRecord(App& app, const FormEntry& form) {
    if (!sealedFormReady(app, form.compiled->form())) return;
    closeFill(app);
    FillState& state = app.fill;
    state.sealed = formIsSealed(form.compiled->form());
    const std::string lang = app.defaultFormLanguage(form);
    state.view.start(form.compiled, forms::FormSession::start(form.compiled, lang), lang, false,
                     false);
    state.savedChanges = 0;
    app.screen = Screen::Fill;
}

void openRecord(App& app, const Uuid& id) {
    app.withStore(
        [id](Store& store) { return store.get(id); },
        [&app](Result<StoredRecord> result) {
            if (!result) {
                app.toast(result.error().describe(), true);
                return;
            }
            StoredRecord stored = std::move(result.value());
            const RecordSummary meta = stored.meta;
            auto record = std::make_shared<Record>(std::move(stored.record));
            app.withFormVersion(
                meta.formId, meta.formVersion,
                [&app, meta, record](Result<std::shared_ptr<const forms::CompiledForm>> form) {
                    if (!form) {
                        app.toast(std::string(app.t(M::FormMissing)), true);
                        return;
                    }
                    closeFill(app);
                    FillState& state = app.fill;
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
                    auto session = forms::FormSession::open(form.value(), record->content, lang);
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
    app.refreshCounts();
}

void fillBackground(App& app, FillState& state) {
    if (!state.view.active() || state.viewing || state.finalizing) return;
    if (state.finalizeRequested) {
        state.finalizeRequested = false;
        auto content = state.view.session->finalContent();
        if (!content) {
            state.problems = state.view.session->problems();
            state.view.showAll = true;
            return;
        }
        state.problems.clear();
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
            app.go(Screen::Records);
            return;
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

    const float footer = ImGui::GetFrameHeightWithSpacing() * 2 +
                         (state.problems.empty() ? 0.0f : ImGui::GetFrameHeightWithSpacing() * 5);
    ImGui::BeginChild("##page", ImVec2(0, -footer), true);
    drawPage(app, view);
    ImGui::EndChild();

    if (!state.problems.empty()) {
        ImGui::BeginChild("##problems", ImVec2(0, ImGui::GetFrameHeightWithSpacing() * 5), true);
        ui::error(format(app.t(M::FinalizeProblems), {std::to_string(state.problems.size())}),
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
            ui::paragraph(itemLabel + ": " + problemText(app, view, p, app.settings.uiLanguage),
                          false);
            ImGui::PopID();
        }
        ImGui::EndChild();
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
        if (ui::button("fill.close", label)) {
            if (!answered || state.confirmDiscard) {
                app.go(Screen::Home);
                return;
            }
            state.confirmDiscard = true;
        }
    } else if (ui::button("fill.close", app.t(M::SaveAndClose))) {
        app.go(Screen::Home);
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
}

}  // namespace veld::client
