// Form expressions (relevance, constraints, calculations, randomisation conditions) as a form
// brings them: parsed, then evaluated against a context that answers every question with a
// value of a type picked by its name, as a session's answers of any type would. Patterns of
// text questions and regex() go through checkPattern.
#include <veld/expression.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"

namespace veld::fuzz {

namespace {

class Answers final : public expr::Context {
  public:
    [[nodiscard]] expr::Value answer(std::string_view name) const override {
        return valueFor(name);
    }
    [[nodiscard]] expr::Value caseProperty(std::string_view name) const override {
        // Case properties are text: an ISO date, digits, or words.
        switch (name.size() % 3) {
            case 0:
                return std::string("2026-01-10");
            case 1:
                return std::string("42");
            default:
                return std::string("open");
        }
    }
    [[nodiscard]] expr::Value current() const override { return 17.5; }
    [[nodiscard]] int position() const override { return 2; }
    [[nodiscard]] std::int64_t nowUtcMs() const override { return 1764000000000; }
    [[nodiscard]] expr::Date today() const override { return {20416}; }
    [[nodiscard]] int localOffsetMinutes(std::int64_t) const override { return 60; }
    // Evaluation must give the same value twice (checked below): a fixed UUID.
    [[nodiscard]] std::string newUuid() const override {
        return "00000000-0000-4000-8000-000000000000";
    }
    [[nodiscard]] std::vector<expr::Value> answers(std::string_view name) const override {
        // A question in a repeat: a few instances of mixed types.
        return {valueFor(name), valueFor(std::string(name) + "1"), expr::Value{}};
    }
    [[nodiscard]] expr::Value indexedAnswer(
        std::string_view name, const std::vector<expr::RepeatIndex>& indices) const override {
        return indices.empty() || indices[0].number > 3 ? expr::Value{} : valueFor(name);
    }
    [[nodiscard]] expr::Value choiceField(std::string_view name) const override {
        return valueFor(name);
    }
    [[nodiscard]] std::string choiceLabel(std::string_view,
                                          std::string_view choice) const override {
        return std::string(choice);
    }

  private:
    static expr::Value valueFor(std::string_view name) {
        std::size_t h = 0;
        for (char c : name)
            h = h * 31 + static_cast<unsigned char>(c);
        switch (h % 7) {
            case 0:
                return {};
            case 1:
                return true;
            case 2:
                return 34.0;
            case 3:
                return std::string("yes no other");
            case 4:
                return expr::Date{20000};
            case 5:
                return expr::DateTime{1764000000000};
            default:
                return std::string("");
        }
    }
};

}  // namespace

int expression(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = asText(data, size);
    auto parsed = expr::Expression::parse(text);
    (void)expr::checkPattern(text);
    (void)expr::parseIsoDate(text, true);
    const Answers context;
    // The same text as a choice filter, where bare names read the choice.
    if (auto filter = expr::Expression::parse(text, expr::ParseOptions{.choiceFields = true})) {
        const expr::Value a = filter->evaluate(context);
        FUZZ_CHECK(expr::toText(filter->evaluate(context)) == expr::toText(a));
    }
    if (!parsed) return 0;
    FUZZ_CHECK(text.size() <= expr::Expression::kMaxLength);
    const expr::Value value = parsed->evaluate(context);
    (void)expr::toText(value);
    (void)expr::toBool(value);
    (void)expr::toNumber(value);
    // Evaluation has no state: the same expression gives the same value, copies too.
    const expr::Expression copy = parsed.value();
    const expr::Value again = copy.evaluate(context);
    FUZZ_CHECK(expr::toText(again) == expr::toText(value));
    for (const auto& name : parsed->references())
        FUZZ_CHECK(!name.empty());
    return 0;
}

}  // namespace veld::fuzz
