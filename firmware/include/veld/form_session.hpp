// Filling a form: the session the client and the tests use to ask a form's questions, apply its
// skip logic, validation and calculations, and produce the record's content.
//
// A CompiledForm is loaded once per form version (expressions parsed, dependencies indexed) and
// shared by every session on it. A FormSession belongs to one thread.
//
// Cases: a form's case_settings say whether its records open, follow up or close a case. A
// session for such a form knows its case (CaseContext), reads its properties in `${case.name}`,
// starts the questions that set properties with the case's values, and puts what the record does
// to the case into the content (RecordContent::caseChange). When the form randomises and its
// `when` holds, the content also asks the store for an allocation (RecordContent::allocate).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <veld/fb/form_generated.h>
#include <veld/hlc.hpp>
#include <veld/record.hpp>
#include <veld/result.hpp>
#include <veld/uuid.hpp>

namespace veld {
struct CaseInfo;
}

namespace veld::forms {

class CompiledForm {
  public:
    /// Loads a compiled form (from compileFormJson or `veldctl form compile`): verified, checked
    /// (a form with errors is refused with the first one, InvalidArgument), expressions parsed
    /// once, and for every question the items whose logic depends on it.
    static Result<std::shared_ptr<const CompiledForm>> load(std::vector<std::uint8_t> binary);

    ~CompiledForm();
    [[nodiscard]] const fb::Form& form() const;
    [[nodiscard]] const std::string& id() const;
    [[nodiscard]] std::uint32_t version() const;
    [[nodiscard]] const std::string& defaultLanguage() const;

    struct Impl;
    [[nodiscard]] const Impl& impl() const { return *m_impl; }

  private:
    explicit CompiledForm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

/// One item in one repeat instance: the item's name and, outermost first, the 0-based instance of
/// every repeat that encloses it (empty outside repeats).
struct ItemPath {
    std::string name;
    std::vector<std::size_t> instances;
    bool operator==(const ItemPath&) const = default;
};

/// Why a question blocks finalizing. The client words each kind in the user's language through
/// its translation table; `message` is the form's own text in the session's language when it has
/// one: its constraint message for Constraint, its required message for Required.
struct SessionProblem {
    enum class Kind {
        Required,         // visible, required and unanswered
        ConsentNeeded,    // a consent question not accepted
        Constraint,       // the form's constraint is false
        OutOfRange,       // below min_value, above max_value, or not on a step of a slider
        TooLong,          // text longer than max_length (default 2000)
        Pattern,          // text does not match the pattern
        TooFewInstances,  // a visible repeat with fewer instances than min_count
    };
    ItemPath path;
    Kind kind = Kind::Required;
    std::string message;
};

/// The case a session fills a form for, as the device holds it when the session starts or reopens.
struct CaseContext {
    Uuid id;
    std::map<std::string, std::string, std::less<>> properties;  // name -> text value
    /// name -> the HLC of that value, the base of a change the form makes to it.
    std::map<std::string, HlcTimestamp, std::less<>> clocks;
    /// The store's view of a case (veld/case.hpp).
    static CaseContext of(const CaseInfo& info);
};

/// The text an answer gives a case property: text as typed, numbers as their digits, a choice's
/// name, choices' names joined by a space, dates as YYYY-MM-DD, times as HH:MM, consent as "yes"
/// or "no". Questions that set properties read the same text back.
std::string casePropertyText(const AnswerValue& value);

struct Progress {
    int answered = 0;  // visible questions that take an answer and have one
    int total = 0;     // visible questions that take an answer (not notes, not calculated, not
                       // hidden)
};

class FormSession {
  public:
    /// A new, empty record: defaults applied and calculations run. `language` picks labels and
    /// messages; empty, or a language the form does not offer, means the form's default one.
    ///
    /// `caseContext` (copied; may be null) is the record's case. A form that opens a case gets a
    /// new case id (UUIDv7) unless the context names one. A follow-up or close form reads the
    /// context's properties in `${case.name}`, and its questions that set case properties start
    /// with the case's values (read as the question's type; a value that does not fit is left
    /// out). Without a context, a follow-up record belongs to no case and changes none: the
    /// client starts such forms from a case.
    static FormSession start(std::shared_ptr<const CompiledForm> form, std::string language = {},
                             const CaseContext* caseContext = nullptr);
    /// Continues a draft. WrongState when the draft was made with another form or form version
    /// (a draft stays on the version it was started with), or when `caseContext` names another
    /// case than the draft; InvalidArgument when an answer does not fit its question. The draft
    /// keeps its case id; `caseContext` gives the case's properties as they are now (answers are
    /// not refilled from them).
    static Result<FormSession> open(std::shared_ptr<const CompiledForm> form,
                                    const RecordContent& draft, std::string language = {},
                                    const CaseContext* caseContext = nullptr);

    /// Sets an answer and re-evaluates what depends on it. InvalidArgument for an unknown item, a
    /// value of the wrong type, a choice not in the question's list or not offered by its
    /// choice_filter (offeredChoices()), or a calculated or read-only item; NotFound for a repeat
    /// instance that does not exist. An empty text or an empty selection clears the answer ('' is
    /// unanswered in XLSForm). A select many answer that chooses an exclusive choice together
    /// with others is InvalidArgument.
    Status setAnswer(const ItemPath& path, AnswerValue value);
    /// Ticks or unticks one choice of a select many question, as a person does: ticking an
    /// exclusive choice ("none of these") clears the others, ticking another clears the exclusive
    /// one; the choices keep the list's order, and 'other' text goes when 'other' is unticked.
    /// Errors as setAnswer, and InvalidArgument for a question that is not select many.
    Status toggleChoice(const ItemPath& path, std::string_view choice);
    Status clearAnswer(const ItemPath& path);
    [[nodiscard]] std::optional<AnswerValue> answer(const ItemPath& path) const;

    /// The choices a select question offers at `path`, as indices into its choice list, in list
    /// order: all of them without a choice_filter; else those for which the filter holds as the
    /// answers stand (evaluated per choice; bare names read the choice's name and properties).
    /// Ask again after an answer changes. Empty for an unknown path or a question without
    /// choices. setAnswer() refuses a choice not offered, and an answer whose choices stop
    /// being offered loses them (a cleared country clears its city).
    [[nodiscard]] std::vector<std::size_t> offeredChoices(const ItemPath& path) const;

    /// Adds an instance at the end of a repeat; returns its index. WrongState at max_count, and
    /// for a repeat with a repeat_count: its instances follow the expression's value (empty
    /// instances are added at the end, trailing ones removed with their answers, whenever the
    /// value changes; at most 1000).
    Result<std::size_t> addRepeatInstance(const ItemPath& repeat);
    /// Removes an instance with all its answers; later instances move down by one. WrongState
    /// for a repeat with a repeat_count.
    Status removeRepeatInstance(const ItemPath& repeat, std::size_t index);
    [[nodiscard]] std::size_t repeatCount(const ItemPath& repeat) const;

    /// Relevant, and every enclosing group and repeat is relevant. In expressions the answer of
    /// an item that is not visible reads as empty (as in ODK), so hiding a question also hides
    /// what depends on it; the answer itself is kept until finalContent().
    [[nodiscard]] bool isVisible(const ItemPath& path) const;
    [[nodiscard]] bool isRequired(const ItemPath& path) const;
    /// Read-only or calculated.
    [[nodiscard]] bool isReadOnly(const ItemPath& path) const;
    /// The problem with one visible item, if any.
    [[nodiscard]] std::optional<SessionProblem> problem(const ItemPath& path) const;
    /// Everything that blocks finalizing, in form order.
    [[nodiscard]] std::vector<SessionProblem> problems() const;
    [[nodiscard]] Progress progress() const;

    /// The answers as they stand, for saving a draft (answers of hidden items are kept: the
    /// respondent may go back).
    [[nodiscard]] RecordContent content() const;
    /// The answers to finalize, refused (InvalidArgument, listing the problems) while problems()
    /// is not empty. Answers of items that are not visible are dropped, as XLSForm does.
    ///
    /// Both carry the case id and, for a form with case_settings, the case change: an opening
    /// form sets every property whose question is answered (and the pseudonym, "KEYID:HEX"); a
    /// follow-up or close form sets only the properties whose text differs from the case's value
    /// and from what the question started with, so an untouched question never changes the case
    /// (except where the case has no value and a default answered the question). Calculated
    /// questions set their property whenever the result differs from the case's value. A
    /// property whose question is hidden at finalize is left as it is. base_hlc stays 0 (the
    /// store fills it in). `allocate` is pendingAllocation().
    [[nodiscard]] Result<RecordContent> finalContent() const;

    /// The case the record belongs to (see start()).
    [[nodiscard]] std::optional<Uuid> caseId() const;
    /// The randomisation finalizing would ask for as the answers stand: the form randomises, the
    /// record has a case, `when` holds (an empty one always does) and every strata question is
    /// answered and shown; the stratum is "factor=choice;..." in the form's strata order. The
    /// client uses it to say beforehand that finalizing randomises the case.
    [[nodiscard]] std::optional<AllocationRequest> pendingAllocation() const;

    [[nodiscard]] const CompiledForm& form() const;
    [[nodiscard]] const std::string& language() const;

    FormSession(FormSession&&) noexcept;
    FormSession& operator=(FormSession&&) noexcept;
    ~FormSession();

    struct State;

  private:
    explicit FormSession(std::unique_ptr<State> state);
    std::unique_ptr<State> m_state;
};

}  // namespace veld::forms
