// Filling a form: the session the client and the tests use to ask a form's questions, apply its
// skip logic, validation and calculations, and produce the record's content.
//
// A CompiledForm is loaded once per form version (expressions parsed, dependencies indexed) and
// shared by every session on it. A FormSession belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <veld/fb/form_generated.h>
#include <veld/record.hpp>
#include <veld/result.hpp>

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
/// its translation table; `message` is the form's own constraint message (in the session's
/// language) for Constraint.
struct SessionProblem {
    enum class Kind {
        Required,         // visible, required and unanswered
        ConsentNeeded,    // a consent question not accepted
        Constraint,       // the form's constraint is false
        OutOfRange,       // below min_value or above max_value
        TooLong,          // text longer than max_length (default 2000)
        Pattern,          // text does not match the pattern
        TooFewInstances,  // a visible repeat with fewer instances than min_count
    };
    ItemPath path;
    Kind kind = Kind::Required;
    std::string message;
};

struct Progress {
    int answered = 0;  // visible questions that take an answer and have one
    int total = 0;     // visible questions that take an answer (not notes, not calculated)
};

class FormSession {
  public:
    /// A new, empty record: defaults applied and calculations run. `language` picks labels and
    /// messages; empty, or a language the form does not offer, means the form's default one.
    static FormSession start(std::shared_ptr<const CompiledForm> form, std::string language = {});
    /// Continues a draft. WrongState when the draft was made with another form or form version
    /// (a draft stays on the version it was started with); InvalidArgument when an answer does
    /// not fit its question.
    static Result<FormSession> open(std::shared_ptr<const CompiledForm> form,
                                    const RecordContent& draft, std::string language = {});

    /// Sets an answer and re-evaluates what depends on it. InvalidArgument for an unknown item, a
    /// value of the wrong type, a choice not in the question's list, or a calculated or read-only
    /// item; NotFound for a repeat instance that does not exist. An empty text or an empty
    /// selection clears the answer ('' is unanswered in XLSForm).
    Status setAnswer(const ItemPath& path, AnswerValue value);
    Status clearAnswer(const ItemPath& path);
    [[nodiscard]] std::optional<AnswerValue> answer(const ItemPath& path) const;

    /// Adds an instance at the end of a repeat; returns its index. WrongState at max_count.
    Result<std::size_t> addRepeatInstance(const ItemPath& repeat);
    /// Removes an instance with all its answers; later instances move down by one.
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
    [[nodiscard]] Result<RecordContent> finalContent() const;

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
