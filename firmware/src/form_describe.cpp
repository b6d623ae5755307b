// `veldctl form show`: a form's item tree with its logic, for people reviewing it.
#include <functional>
#include <sstream>

#include <veld/expression.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>

#include "form_words.hpp"

namespace veld::forms {

using namespace detail;
using fb::Item;
using fb::ItemKind;

std::string describeForm(std::span<const std::uint8_t> binary, const std::string& language) {
    const fb::Form* form = fb::GetForm(binary.data());
    std::string fallback = form->default_language() ? form->default_language()->str() : "";
    std::string lang = language.empty() ? fallback : language;
    std::ostringstream out;
    out << form->id()->str() << " v" << form->version();
    if (form->version_label() && form->version_label()->size() > 0)
        out << " (" << form->version_label()->str() << ")";
    if (form->pilot()) out << "  (pilot " << form->pilot()->str() << ")";
    out << "\n" << textIn(form->titles(), lang, fallback) << "\n";
    if (form->languages()) {
        out << "languages:";
        for (const auto* l : *form->languages()) {
            out << " " << l->tag()->str() << (l->tag()->str() == fallback ? "*" : "")
                << (l->rtl() ? " (rtl)" : "");
        }
        out << "\n";
    }
    if (const auto* s = form->settings()) {
        out << "settings:" << (s->kiosk() ? " kiosk" : "") << (s->sealed() ? " sealed" : "")
            << (s->anonymous() ? " anonymous" : "");
        if (s->summary_question()) out << " summary=" << s->summary_question()->str();
        out << "\n";
        if (const auto* cs = s->case_settings()) {
            out << "case: " << actionName(cs->action());
            if (cs->case_type() && cs->case_type()->size() > 0)
                out << " " << cs->case_type()->str();
            if (cs->pseudonym_question() && cs->pseudonym_question()->size() > 0)
                out << " pseudonym=${" << cs->pseudonym_question()->str() << "}";
            if (cs->updates()) {
                for (const auto* u : *cs->updates())
                    out << " " << u->property()->str() << "=${" << u->question()->str() << "}";
            }
            out << "\n";
        }
        if (const auto* r = s->randomisation()) {
            out << "randomisation: study " << r->study()->str();
            if (r->strata()) {
                out << " strata";
                for (const auto* f : *r->strata())
                    out << " " << f->factor()->str() << "=${" << f->question()->str() << "}";
            }
            if (r->when() && r->when()->size() > 0) out << " when " << r->when()->str();
            out << "\n";
        }
    }
    std::function<void(const flatbuffers::Vector<flatbuffers::Offset<Item>>*, int)> walk =
        [&](const flatbuffers::Vector<flatbuffers::Offset<Item>>* items, int depth) {
            if (!items) return;
            std::string pad(static_cast<std::size_t>(depth * 2), ' ');
            for (const auto* item : *items) {
                out << pad;
                switch (item->kind()) {
                    case ItemKind::Group:
                        out << "group ";
                        break;
                    case ItemKind::Repeat:
                        out << "repeat ";
                        break;
                    default:
                        out << typeName(item->type()) << " ";
                        break;
                }
                out << item->name()->str();
                if (item->choice_list()) out << " [" << item->choice_list()->str() << "]";
                if (item->required()) out << " *";
                if (item->hidden()) out << " hidden";
                if (item->kind() == ItemKind::Repeat && !item->repeat_count()) {
                    out << " (" << item->min_count() << ".."
                        << (item->max_count() ? std::to_string(item->max_count()) : "n") << ")";
                }
                if (item->min_value() || item->max_value()) {
                    const auto number = [](const flatbuffers::Optional<double>& v) {
                        return v ? expr::toText(expr::Value{*v}) : std::string();
                    };
                    out << " [" << number(item->min_value()) << ".." << number(item->max_value());
                    if (item->step()) out << " step " << number(item->step());
                    out << "]";
                }
                out << "  \"" << textIn(item->labels(), lang, fallback) << "\"\n";
                auto logic = [&](const char* what, const flatbuffers::String* e) {
                    if (e && e->size() > 0)
                        out << pad << "    " << what << ": " << e->str() << "\n";
                };
                logic("appearance", item->appearance());
                logic("instances", item->repeat_count());
                logic("relevant if", item->relevance());
                logic("constraint", item->constraint());
                logic("calculation", item->calculation());
                logic("default", item->default_value());
                logic("pattern", item->pattern());
                logic("choice filter", item->choice_filter());
                walk(item->children(), depth + 1);
            }
        };
    walk(form->items(), 0);
    if (form->choice_lists()) {
        out << "choice lists:\n";
        for (const auto* list : *form->choice_lists()) {
            out << "  " << list->name()->str() << ":";
            if (list->choices()) {
                for (const auto* c : *list->choices())
                    out << " " << c->name()->str() << (c->exclusive() ? " (exclusive)" : "");
            }
            out << "\n";
        }
    }
    return out.str();
}

}  // namespace veld::forms
