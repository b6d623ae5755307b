// The review queue and the conflict view: records shown question by question, a conflict's two
// revisions side by side with their differences highlighted.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <span>

#include <imgui.h>
#include <imgui_internal.h>

#include "../form_view.hpp"
#include "../ui.hpp"
#include "console.hpp"

namespace veld::client::console {

namespace {

constexpr ImU32 kDiffColor = IM_COL32(255, 228, 160, 255);

M reviewName(ReviewState s) {
    switch (s) {
        case ReviewState::HasIssues:
            return M::ConsoleReviewHasIssues;
        case ReviewState::Approved:
            return M::ConsoleReviewApproved;
        case ReviewState::Rejected:
            return M::ConsoleReviewRejected;
        case ReviewState::Corrected:
            return M::ConsoleReviewCorrected;
        case ReviewState::Received:
            break;
    }
    return M::ConsoleReviewReceived;
}

// The title of the newest published version of a form (its id when none is published).
std::string formTitleOf(const Console& console, const std::string& formId) {
    const ConsoleForm* newest = nullptr;
    for (const ConsoleForm& f : console.forms) {
        if (f.id == formId && (!newest || f.version > newest->version)) newest = &f;
    }
    return newest ? formTitle(newest->compiled->form(), console.language) : formId;
}

// A sealed revision's state: shut (with the way to the key ring) or opened here. `id` names the
// line for tests.
void drawSealed(Console& console, const ShownRevision& shown, const std::string& id) {
    if (shown.locked) {
        ui::paragraph(shown.problem, false);
        ui::recordLast(id, shown.problem);
        if (ui::button(id + ".keys", console.t(M::ConsoleGoToKeys))) console.go(Tab::Keys);
    } else if (shown.sealed && shown.problem.empty()) {
        const std::string line = format(console.t(M::ConsoleSealedOpened), {shown.keyId});
        ui::hint(line, false);
        ui::recordLast(id, line);
    }
}

// A revision's rows as a two-column table (question, answer).
void drawRevision(Console& console, const ShownRevision& shown, const char* tableId) {
    drawSealed(console, shown, std::string(tableId) + ".sealed");
    if (shown.locked) return;
    if (!shown.problem.empty()) {
        ui::error(shown.problem, false);
        return;
    }
    const ImGuiTableFlags flags =
        ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingStretchProp;
    if (!ImGui::BeginTable(tableId, 2, flags)) return;
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleQuestion)).c_str());
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleAnswer)).c_str());
    ImGui::TableHeadersRow();
    for (const auto& row : shown.rows) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextWrapped("%s", row.label.c_str());
        ImGui::TableNextColumn();
        ImGui::TextWrapped("%s", row.text.c_str());
        ui::recordLast(std::string("answer.") + row.key, row.text);
    }
    ImGui::EndTable();
}

// Fetches a record's revisions into `target`, unless staff chose something else meanwhile
// (`wanted` says whether the answer is still for what is on screen).
void loadDetail(Console& console, const Uuid& id, std::optional<sync::admin::RecordDetail>& target,
                std::function<bool()> wanted) {
    target.reset();
    console.api(
        [id](sync::AdminClient& c) { return c.record(id); },
        [&console, &target, wanted = std::move(wanted)](Result<sync::admin::RecordDetail> detail) {
            if (!wanted()) return;
            if (!detail) return console.toast(detail.error().message, true);
            target = std::move(detail.value());
        });
}

const sync::StoredRevision* findRevision(const sync::admin::RecordDetail& detail,
                                         const Uuid& device, HlcTimestamp hlc) {
    for (const auto& r : detail.revisions) {
        if (r.deviceId == device && r.hlc == hlc) return &r;
    }
    return nullptr;
}

// "revision of <time> from <device> (current)" for the revision with `hlc`.
std::string correctionLine(const Console& console, const sync::admin::RecordDetail& d,
                           HlcTimestamp hlc) {
    for (std::size_t i = 0; i < d.revisions.size(); ++i) {
        const auto& r = d.revisions[i];
        if (r.hlc != hlc) continue;
        return format(console.t(static_cast<int>(i) == d.current ? M::ConsoleCorrectedByCurrent
                                                                 : M::ConsoleCorrectedBy),
                      {ui::localDateTime(static_cast<std::int64_t>(hlc.millis())),
                       console.deviceName(r.deviceId)});
    }
    return format(console.t(M::ConsoleCorrectedBy),
                  {ui::localDateTime(static_cast<std::int64_t>(hlc.millis())), "?"});
}

// One cell of a table: its text, cut with "..." when the column is narrower, and then shown
// whole in a tooltip while the pointer is over it. Its width is the whole text's, so a column
// that fits its content fits it whole. For tests: `id` holds the text, "<id>.cut" is there when
// it is cut, and "tooltip" holds the tooltip shown.
void cellText(const std::string& id, const std::string& text) {
    const ImVec2 pos = ImGui::GetCursorScreenPos();
    const ImVec2 size = ImGui::CalcTextSize(text.c_str());
    const float room = std::max(ImGui::GetContentRegionAvail().x, 1.0f);
    const ImVec2 end(pos.x + std::min(size.x, room), pos.y + size.y);
    ImGui::RenderTextEllipsis(ImGui::GetWindowDrawList(), pos, ImVec2(pos.x + room, end.y),
                              pos.x + room, pos.x + room, text.c_str(), nullptr, &size);
    ImGui::Dummy(size);
    ui::record(id, text, pos, end);
    if (size.x <= room) return;
    ui::record(id + ".cut", text, pos, end);
    if (ImGui::IsWindowHovered() && ImGui::IsMouseHoveringRect(pos, end)) {
        ImGui::SetTooltip("%s", text.c_str());
        ui::record("tooltip", text, pos, end);
    }
}

// The form filter above the review queue: every form, or one (by its newest title).
void drawFormFilter(Console& console, ReviewTabState& state) {
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(std::string(console.t(M::ConsoleReviewForm)).c_str());
    ImGui::SameLine();
    const std::string every(console.t(M::ConsoleEveryForm));
    const std::string current =
        state.formFilter.empty() ? every : formTitleOf(console, state.formFilter);
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.5f);
    auto choose = [&state](const std::string& formId) {
        if (formId == state.formFilter) return;
        state.formFilter = formId;
        state.dirty = true;
        state.checked.clear();
    };
    if (ImGui::BeginCombo("##review.form", current.c_str())) {
        if (ui::selectable("review.form.", every, state.formFilter.empty())) choose({});
        for (const ConsoleForm* f : console.newestForms()) {
            const std::string title = formTitle(f->compiled->form(), console.language);
            if (ui::selectable("review.form." + f->id, title, state.formFilter == f->id))
                choose(f->id);
        }
        ImGui::EndCombo();
    }
    ui::recordLast("review.form", current);
}

// "Select every listed record" and the button that approves the ticked ones: one review per
// record, as staff would give one by one (each audited on its own).
void drawApproveChecked(Console& console, ReviewTabState& state) {
    const auto& records = state.queue->records;
    bool all = !records.empty() && state.checked.size() == records.size();
    if (ui::checkbox("review.check_all", console.t(M::ConsoleCheckAll), all,
                     !records.empty() && !state.approving)) {
        state.checked.clear();
        if (all) {
            for (const auto& e : records)
                state.checked.insert(e.recordId);
        }
    }
    if (state.filter == static_cast<int>(ReviewState::Approved)) return;
    ImGui::SameLine();
    const auto n = static_cast<std::int64_t>(state.checked.size());
    if (!ui::button("review.approve_checked", plural(M::ConsoleApproveChecked, n, console.language),
                    0, 0, n > 0 && !state.approving && !state.saving)) {
        return;
    }
    state.approving = true;
    const std::vector<Uuid> ids(state.checked.begin(), state.checked.end());
    struct Outcome {
        std::vector<Uuid> approved;
        std::int64_t failed = 0;
        std::string error;  // the first failure's
    };
    console.api(
        [ids](sync::AdminClient& c) {
            Outcome out;
            for (const Uuid& id : ids) {
                sync::admin::ReviewRequest request;
                request.recordId = id;
                request.set = ReviewState::Approved;
                if (auto done = c.review(request)) {
                    out.approved.push_back(id);
                } else {
                    if (out.error.empty()) out.error = done.error().message;
                    ++out.failed;
                }
            }
            return out;
        },
        [&console, &state](Outcome outcome) {
            state.approving = false;
            for (const Uuid& id : outcome.approved)
                state.checked.erase(id);
            state.dirty = true;
            const bool shownChanged =
                state.selected && std::find(outcome.approved.begin(), outcome.approved.end(),
                                            *state.selected) != outcome.approved.end();
            if (shownChanged) {
                loadDetail(console, *state.selected, state.detail,
                           [&state, id = *state.selected] { return state.selected == id; });
            }
            const auto approved = static_cast<std::int64_t>(outcome.approved.size());
            if (outcome.failed > 0) {
                return console.toast(
                    plural(M::ConsoleApproveFailed, outcome.failed, console.language,
                           {std::to_string(outcome.failed), outcome.error}),
                    true);
            }
            console.toast(plural(M::ConsoleApproved, approved, console.language));
        });
}

// The queue as a table: a tick box, the form's title, the device and the date, in columns staff
// can widen or narrow; a row opens its record.
void drawQueueTable(Console& console, ReviewTabState& state) {
    const ImGuiTableFlags flags = ImGuiTableFlags_Resizable | ImGuiTableFlags_RowBg |
                                  ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_BordersOuterH |
                                  ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
    if (!ImGui::BeginTable("review.queue", 4, flags)) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("##check",
                            ImGuiTableColumnFlags_WidthFixed | ImGuiTableColumnFlags_NoResize);
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleReviewForm)).c_str(),
                            ImGuiTableColumnFlags_WidthStretch);
    // The device and the date fit their content until staff resize them.
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleDevice)).c_str(),
                            ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableSetupColumn(std::string(console.t(M::ConsoleReviewDate)).c_str(),
                            ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableHeadersRow();
    int i = 0;
    for (const auto& e : state.queue->records) {
        // An older collector may not filter by form; what is shown is filtered all the same.
        if (!state.formFilter.empty() && e.formId != state.formFilter) continue;
        const std::string row = "review.row." + std::to_string(i++);
        ImGui::TableNextRow();
        ImGui::PushID(row.c_str());
        ImGui::TableNextColumn();
        bool ticked = state.checked.count(e.recordId) > 0;
        if (ui::checkbox(row + ".check", "", ticked, !state.approving)) {
            if (ticked) {
                state.checked.insert(e.recordId);
            } else {
                state.checked.erase(e.recordId);
            }
        }
        ImGui::TableNextColumn();
        // The row's own widget, under the texts and across every column.
        if (ui::selectable(row, "", state.selected && *state.selected == e.recordId)) {
            state.selected = e.recordId;
            state.comment.clear();
            loadDetail(console, e.recordId, state.detail,
                       [&state, id = e.recordId] { return state.selected == id; });
        }
        ImGui::SameLine(0, 0);
        cellText(row + ".form", formTitleOf(console, e.formId));
        ImGui::TableNextColumn();
        cellText(row + ".device", console.deviceName(e.deviceId));
        ImGui::TableNextColumn();
        cellText(row + ".date", ui::localDateTime(static_cast<std::int64_t>(e.hlc.millis())));
        ImGui::PopID();
    }
    ImGui::EndTable();
}

}  // namespace

void drawReview(Console& console, ReviewTabState& state) {
    ui::heading(console.t(M::ConsoleTabReview), false);
    // Staff set the first four; "corrected" comes from the field (a correction arrived).
    const ReviewState states[] = {ReviewState::Received, ReviewState::HasIssues,
                                  ReviewState::Approved, ReviewState::Rejected,
                                  ReviewState::Corrected};
    const std::span<const ReviewState> staffSets(states, 4);
    for (ReviewState s : states) {
        const int value = static_cast<int>(s);
        if (value > 0) ImGui::SameLine();
        ImGui::PushID(value);
        if (ImGui::RadioButton(std::string(console.t(reviewName(s))).c_str(),
                               state.filter == value)) {
            state.filter = value;
            state.dirty = true;
            state.checked.clear();
            state.selected.reset();
            state.detail.reset();
        }
        ImGui::PopID();
        ui::recordLast(std::string("review.filter.") + std::string(sync::reviewStateName(s)),
                       console.t(reviewName(s)));
    }
    drawFormFilter(console, state);
    if (state.dirty && !state.loading) {
        state.dirty = false;
        state.loading = true;
        sync::admin::QueueRequest request;
        request.state = static_cast<ReviewState>(state.filter);
        request.formId = state.formFilter;
        request.limit = 200;
        console.api([request](sync::AdminClient& c) { return c.queue(request); },
                    [&console, &state](Result<sync::ReviewQueue> queue) {
                        state.loading = false;
                        if (!queue) return console.toast(queue.error().message, true);
                        state.queue = std::move(queue.value());
                        // Ticks stay on the records still listed.
                        std::set<Uuid> listed;
                        for (const auto& e : state.queue->records)
                            listed.insert(e.recordId);
                        std::erase_if(state.checked,
                                      [&](const Uuid& id) { return !listed.count(id); });
                    });
    }
    if (!state.queue) {
        ui::hint(console.t(M::ConsoleWorking), false);
        return;
    }
    const auto total = state.queue->total;
    const auto shown = static_cast<std::int64_t>(state.queue->records.size());
    const std::string count = total > shown
                                  ? plural(M::ConsoleQueueCountFirst, total, console.language,
                                           {std::to_string(total), std::to_string(shown)})
                                  : plural(M::ConsoleQueueCount, total, console.language);
    ui::hint(count, false);
    ui::recordLast("review.count", count);
    const float listW = ImGui::GetContentRegionAvail().x * 0.6f;
    ImGui::BeginChild("##queue", ImVec2(listW, 0), true);
    if (state.queue->records.empty()) {
        ui::hint(console.t(M::ConsoleQueueEmpty), false);
    } else {
        drawApproveChecked(console, state);
        drawQueueTable(console, state);
    }
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("##record", ImVec2(0, 0), true);
    if (state.selected && state.detail) {
        const auto& d = *state.detail;
        if (d.current >= 0 && static_cast<std::size_t>(d.current) < d.revisions.size()) {
            const auto& cur = d.revisions[static_cast<std::size_t>(d.current)];
            ui::paragraph(
                format(console.t(M::ConsoleRecordFrom),
                       {formTitleOf(console, cur.formId), console.deviceName(cur.deviceId),
                        ui::localDateTime(static_cast<std::int64_t>(cur.hlc.millis()))}),
                false);
            if (cur.clockFlagged) ui::error(console.t(M::ConsoleClockFlagged), false);
            if (d.revisions.size() > 1) {
                ui::hint(plural(M::ConsoleRevisionCount,
                                static_cast<std::int64_t>(d.revisions.size()), console.language),
                         false);
            }
            drawRevision(console, console.show(cur), "review.answers");
        }
        ImGui::Spacing();
        ui::paragraph(
            format(console.t(M::ConsoleReviewNow), {console.t(reviewName(d.review.state))}), false);
        ui::recordLast("review.state", console.t(reviewName(d.review.state)));
        int n = 0;
        for (const auto& h : d.review.history) {
            std::string line = ui::localDateTime(h.utcMs) + "  " + h.actor + ": " +
                               std::string(console.t(reviewName(h.state)));
            if (h.state == ReviewState::Corrected && h.revisionHlc != 0) {
                // The correcting revision, by its device and time (the answers above are the
                // current revision: this one, unless a newer one came since).
                line += " - " + correctionLine(console, d, HlcTimestamp{h.revisionHlc});
            } else if (!h.comment.empty()) {
                line += " (" + h.comment + ")";
            }
            ImGui::BulletText("%s", line.c_str());
            ui::recordLast("review.history." + std::to_string(n++), line);
        }
        ui::paragraph(console.t(M::ConsoleComment), false);
        ui::input("review.comment", state.comment);
        for (ReviewState s : staffSets) {
            const int value = static_cast<int>(s);
            if (value > 0) ImGui::SameLine();
            const std::string id =
                std::string("review.set.") + std::string(sync::reviewStateName(s));
            if (ui::button(id, console.t(reviewName(s)), 0, 0,
                           s != d.review.state && !state.saving)) {
                sync::admin::ReviewRequest request;
                request.recordId = *state.selected;
                request.set = s;
                request.comment = state.comment;
                state.saving = true;
                console.api(
                    [request](sync::AdminClient& c) { return c.review(request); },
                    [&console, &state, id = request.recordId](Result<sync::RecordReview> review) {
                        state.saving = false;
                        if (!review) return console.toast(review.error().message, true);
                        if (state.detail && state.selected == id)
                            state.detail->review = std::move(review.value());
                        state.comment.clear();
                        state.dirty = true;
                        console.toast(std::string(console.t(M::ConsoleReviewSaved)));
                    });
            }
        }
        ui::hint(console.t(M::ConsoleHasIssuesSendsBack), false);
    } else {
        ui::hint(console.t(M::ConsoleChooseRecord), false);
    }
    ImGui::EndChild();
}

void selectReviewEntry(Console& console, ReviewTabState& state, std::size_t index) {
    if (!state.queue || index >= state.queue->records.size()) return;
    const Uuid id = state.queue->records[index].recordId;
    state.selected = id;
    state.comment.clear();
    loadDetail(console, id, state.detail, [&state, id] { return state.selected == id; });
}

void selectConflict(Console& console, ConflictsState& state, std::size_t index) {
    if (index >= state.list.size()) return;
    const sync::ConflictInfo& c = state.list[index];
    state.selected = c.id;
    state.fromB.clear();
    state.comment.clear();
    loadDetail(console, c.recordId, state.detail,
               [&state, id = c.id] { return state.selected == id; });
}

void drawConflicts(Console& console, ConflictsState& state) {
    ui::heading(console.t(M::ConsoleTabConflicts), false);
    if (state.dirty && !state.loading) {
        state.dirty = false;
        state.loading = true;
        console.api([](sync::AdminClient& c) { return c.conflicts(); },
                    [&console, &state](Result<std::vector<sync::ConflictInfo>> list) {
                        state.loading = false;
                        if (!list) return console.toast(list.error().message, true);
                        state.list = std::move(list.value());
                        const bool stillOpen =
                            std::any_of(state.list.begin(), state.list.end(),
                                        [&](const auto& c) { return state.selected == c.id; });
                        if (!stillOpen) {
                            state.selected.reset();
                            state.detail.reset();
                        }
                    });
    }
    if (state.list.empty()) {
        ui::paragraph(console.t(state.loading ? M::ConsoleWorking : M::ConsoleNoConflicts), false);
        return;
    }
    ui::hint(console.t(M::ConsoleConflictsHint), false);
    const float listLines = static_cast<float>(std::min<std::size_t>(state.list.size(), 4));
    ImGui::BeginChild("##conflicts",
                      ImVec2(0, ImGui::GetTextLineHeightWithSpacing() * listLines +
                                    ImGui::GetStyle().WindowPadding.y * 2),
                      true);
    int i = 0;
    for (const auto& c : state.list) {
        const std::string line =
            format(console.t(M::ConsoleConflictLine),
                   {c.recordId.toString().substr(0, 8), console.deviceName(c.deviceA),
                    console.deviceName(c.deviceB), ui::localDateTime(c.detectedUtcMs)});
        if (ui::selectable("conflict.row." + std::to_string(i), line, state.selected == c.id)) {
            selectConflict(console, state, static_cast<std::size_t>(i));
        }
        ++i;
    }
    ImGui::EndChild();
    const sync::ConflictInfo* chosen = nullptr;
    for (const auto& c : state.list) {
        if (state.selected == c.id) chosen = &c;
    }
    if (!chosen || !state.detail) {
        ui::hint(console.t(chosen ? M::ConsoleWorking : M::ConsoleChooseConflict), false);
        return;
    }
    const sync::StoredRevision* a = findRevision(*state.detail, chosen->deviceA, chosen->hlcA);
    const sync::StoredRevision* b = findRevision(*state.detail, chosen->deviceB, chosen->hlcB);
    if (!a || !b) {
        ui::error(console.t(M::ConsoleRevisionUnreadable), false);
        return;
    }
    const ShownRevision shownA = console.show(*a);  // copies: the cache may make room for B
    const ShownRevision& shownB = console.show(*b);
    drawSealed(console, shownA, "conflict.sealed_a");
    if (!shownB.locked || shownB.problem != shownA.problem)
        drawSealed(console, shownB, "conflict.sealed_b");
    if (!shownA.locked && !shownA.problem.empty()) {
        ui::error(shownA.problem, false);
    } else if (!shownB.locked && !shownB.problem.empty()) {
        ui::error(shownB.problem, false);
    }
    // The collector cannot open sealed revisions, so it cannot write a resolution made from
    // them (it refuses); staff compare here and settle the record by review instead.
    const bool sealed = shownA.sealed || shownB.sealed;
    // Rows in A's order, then what only B has; a row differs when its text differs or one side
    // lacks it. A merge takes whole top-level answers or repeats from B. A side still sealed
    // shut cannot be compared, so then no rows are shown at all.
    const bool comparable = !shownA.locked && !shownB.locked;
    std::map<std::string, const AnswerRow*> inB;
    for (const auto& r : shownB.rows)
        inB[r.key] = &r;
    struct Line {
        std::string key, top, label, textA, textB;
        bool differs = false;
    };
    std::vector<Line> lines;
    std::map<std::string, bool> topDiffers;
    std::map<std::string, bool> inA;
    if (comparable) {
        for (const auto& r : shownA.rows) {
            inA[r.key] = true;
            auto it = inB.find(r.key);
            Line l{r.key, r.top, r.label, r.text,
                   it != inB.end() ? it->second->text : std::string()};
            l.differs = it == inB.end() || it->second->text != r.text;
            lines.push_back(std::move(l));
        }
        for (const auto& r : shownB.rows) {
            if (inA.count(r.key)) continue;
            lines.push_back({r.key, r.top, r.label, std::string(), r.text, true});
        }
    }
    for (const auto& l : lines)
        topDiffers[l.top] = topDiffers[l.top] || l.differs;

    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                  ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                  ImGuiTableFlags_SizingStretchProp;
    // Below the table: why a sealed conflict is settled by review, the comment's label and
    // field, and the buttons.
    float below = ImGui::GetFrameHeightWithSpacing() * 2 + ImGui::GetTextLineHeightWithSpacing() +
                  ImGui::GetStyle().ItemSpacing.y * 2;
    if (sealed) {
        const std::string why(console.t(M::ConsoleConflictSealed));
        const float width = ImGui::GetContentRegionAvail().x;
        below += ImGui::CalcTextSize(why.c_str(), nullptr, false, width).y +
                 ImGui::GetStyle().ItemSpacing.y;
    }
    const float tableH = ImGui::GetContentRegionAvail().y - below;
    if (ImGui::BeginTable("conflict.sides", 4, flags, ImVec2(0, std::max(tableH, 120.0f)))) {
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn(std::string(console.t(M::ConsoleQuestion)).c_str(),
                                ImGuiTableColumnFlags_WidthStretch, 1.2f);
        const std::string headA =
            format(console.t(M::ConsoleSideA),
                   {console.deviceName(a->deviceId),
                    ui::localDateTime(static_cast<std::int64_t>(a->hlc.millis()))});
        const std::string headB =
            format(console.t(M::ConsoleSideB),
                   {console.deviceName(b->deviceId),
                    ui::localDateTime(static_cast<std::int64_t>(b->hlc.millis()))});
        ImGui::TableSetupColumn(headA.c_str(), ImGuiTableColumnFlags_WidthStretch, 1.0f);
        ImGui::TableSetupColumn(headB.c_str(), ImGuiTableColumnFlags_WidthStretch, 1.0f);
        ImGui::TableSetupColumn(std::string(console.t(M::ConsoleTakeB)).c_str(),
                                ImGuiTableColumnFlags_WidthFixed);
        ImGui::TableHeadersRow();
        std::set<std::string> withBox;  // one box per top-level answer or repeat
        for (const auto& l : lines) {
            ImGui::TableNextRow();
            if (l.differs) ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg0, kDiffColor);
            ImGui::TableNextColumn();
            ImGui::TextWrapped("%s", l.label.c_str());
            if (l.differs) ui::recordLast("conflict.diff." + l.key, l.label);
            ImGui::TableNextColumn();
            ImGui::TextWrapped("%s", l.textA.c_str());
            ui::recordLast("conflict.a." + l.key, l.textA);
            ImGui::TableNextColumn();
            ImGui::TextWrapped("%s", l.textB.c_str());
            ui::recordLast("conflict.b." + l.key, l.textB);
            ImGui::TableNextColumn();
            if (!sealed && topDiffers[l.top] && withBox.insert(l.top).second) {
                bool take = state.fromB.count(l.top) > 0;
                ImGui::PushID(l.top.c_str());
                if (ui::checkbox("conflict.take." + l.top, "", take)) {
                    if (take) {
                        state.fromB.insert(l.top);
                    } else {
                        state.fromB.erase(l.top);
                    }
                }
                ImGui::PopID();
            }
        }
        ImGui::EndTable();
    }
    if (sealed) {
        ui::hint(console.t(M::ConsoleConflictSealed), false);
        ui::recordLast("conflict.sealed", console.t(M::ConsoleConflictSealed));
    }
    ui::paragraph(console.t(M::ConsoleComment), false);
    ui::input("conflict.comment", state.comment);
    auto resolve = [&console, &state, id = chosen->id](sync::ConflictResolution::Kind kind) {
        sync::admin::ResolveRequest request;
        request.conflictId = id;
        request.resolution.kind = kind;
        if (kind == sync::ConflictResolution::Kind::Merge) {
            request.resolution.fromB.assign(state.fromB.begin(), state.fromB.end());
        }
        request.resolution.comment = state.comment;
        state.loading = true;
        console.api([request](sync::AdminClient& c) { return c.resolve(request); },
                    [&console, &state](Result<sync::admin::Resolved> done) {
                        state.loading = false;
                        if (!done) return console.toast(done.error().message, true);
                        console.toast(std::string(console.t(M::ConsoleConflictResolved)));
                        state.selected.reset();
                        state.detail.reset();
                        state.dirty = true;
                        console.refreshAll();
                    });
    };
    const bool idle = !state.loading && !sealed;
    if (ui::button("conflict.keep_a", console.t(M::ConsoleKeepA), 0, 0, idle)) {
        resolve(sync::ConflictResolution::Kind::KeepA);
    }
    ImGui::SameLine();
    if (ui::button("conflict.keep_b", console.t(M::ConsoleKeepB), 0, 0, idle)) {
        resolve(sync::ConflictResolution::Kind::KeepB);
    }
    ImGui::SameLine();
    if (ui::button("conflict.merge",
                   format(console.t(M::ConsoleMerge), {std::to_string(state.fromB.size())}), 0, 0,
                   idle && !state.fromB.empty())) {
        resolve(sync::ConflictResolution::Kind::Merge);
    }
    ImGui::SameLine();
    // Always possible, and for sealed revisions the only way: no new revision, the current
    // view stays.
    if (ui::button("conflict.close", console.t(M::ConsoleCloseConflict), 0, 0, !state.loading)) {
        resolve(sync::ConflictResolution::Kind::Close);
    }
}

}  // namespace veld::client::console
