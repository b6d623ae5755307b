#include "form_filling.hpp"

#include <algorithm>
#include <functional>

#include <doctest/doctest.h>

#include <veld/store.hpp>

#include "app.hpp"
#include "veldctl/demo.hpp"

namespace veld::client::testing {

std::string pilotFormsStore(const veld::test::TempDir& dir) {
    const std::string path = dir.file("device.veld");
    StoreOptions create;
    create.mode = sql::OpenMode::ReadWriteCreate;
    auto store = Store::open(path, create);
    REQUIRE_MESSAGE(store.ok(), store.error().describe());
    auto setup = veldctl::setUpDemo(store.value(), std::string(VELD_SOURCE_DIR) + "/schemas/forms");
    REQUIRE_MESSAGE(setup.ok(), setup.error().describe());
    return path;
}

std::string pathKey(const forms::ItemPath& path) {
    std::string key = path.name;
    for (std::size_t i : path.instances)
        key += "#" + std::to_string(i);
    return key;
}

int answerPage(UiDriver& ui, FormView& view, const std::string& text) {
    int answered = 0;
    const fb::Form& form = view.form->form();
    std::function<void(const fb::Item&, const forms::ItemPath&)> visit =
        [&](const fb::Item& item, const forms::ItemPath& path) {
            if (!view.session->isVisible(path) || view.session->isReadOnly(path)) return;
            if (item.kind() == fb::ItemKind::Group) {
                for (const auto* child : *item.children()) {
                    visit(*child, forms::ItemPath{child->name()->str(), path.instances});
                }
                return;
            }
            if (item.kind() == fb::ItemKind::Repeat) {
                const std::size_t need = std::max<std::size_t>(item.min_count(), 1);
                while (view.session->repeatCount(path) < need) {
                    ui.click("q." + pathKey(path) + ".add");
                }
                for (std::size_t i = 0; i < view.session->repeatCount(path); ++i) {
                    for (const auto* child : *item.children()) {
                        auto p = forms::ItemPath{child->name()->str(), path.instances};
                        p.instances.push_back(i);
                        visit(*child, p);
                    }
                }
                return;
            }
            if (view.session->answer(path)) return;
            const std::string id = "q." + pathKey(path);
            const double min = item.min_value().has_value() ? *item.min_value() : 1.0;
            switch (item.type()) {
                case fb::QuestionType::SelectOne:
                case fb::QuestionType::Likert:
                case fb::QuestionType::SelectMany: {
                    const fb::ChoiceList* list = nullptr;
                    for (const auto* l : *form.choice_lists()) {
                        if (l->name()->string_view() == item.choice_list()->string_view()) list = l;
                    }
                    REQUIRE(list != nullptr);
                    // The first choice that is not "other" (which would ask for more text).
                    for (const auto* ch : *list->choices()) {
                        if (ch->is_other()) continue;
                        ui.click(id + "." + ch->name()->str());
                        break;
                    }
                    break;
                }
                case fb::QuestionType::Consent:
                    ui.click(id + ".yes");
                    break;
                case fb::QuestionType::Text:
                    // An optional text with a pattern (a KvK number) stays empty: `text` would
                    // not match it.
                    if (item.pattern() && item.pattern()->size() > 0 && !item.required()) return;
                    ui.type(id, text);
                    break;
                case fb::QuestionType::Integer:
                    ui.type(id, std::to_string(static_cast<long long>(min)));
                    break;
                case fb::QuestionType::Decimal:
                    ui.type(id, std::to_string(static_cast<long long>(min)) + ",5");
                    break;
                case fb::QuestionType::Date:
                    ui.click(id + ".today");
                    break;
                case fb::QuestionType::Time:
                    ui.type(id, "10:30");
                    break;
                case fb::QuestionType::DateTime:
                    ui.click(id + ".now");
                    break;
                case fb::QuestionType::Pseudonym:
                    if (item.identifier_scheme() == fb::IdentifierScheme::Bsn) {
                        ui.type(id, "111222333");
                    } else if (item.identifier_scheme() == fb::IdentifierScheme::SchoolPupil) {
                        ui.type(id + ".school", "12AB");
                        ui.type(id, "4711");
                        ui.click(id + ".record");
                    } else {
                        ui.type(id, "case-17");
                        ui.click(id + ".record");
                    }
                    break;
                default:
                    return;
            }
            ++answered;
        };
    for (const auto& pi : view.pages[static_cast<std::size_t>(view.page)].items) {
        visit(*pi.item, pi.path);
    }
    return answered;
}

int fillAndFinalize(UiDriver& ui, const std::string& text) {
    FormView& view = ui.app().fill.view;
    for (int guard = 0; guard < 200 && ui.app().screen == Screen::Fill; ++guard) {
        answerPage(ui, view, text);
        if (ui.item("fill.next") && ui.item("fill.next")->enabled) {
            ui.click("fill.next");
            continue;
        }
        ui.click("fill.finalize");
        if (ui.app().screen != Screen::Fill) return guard;
        // Problems listed: go to the first one and answer it there.
        const auto problems = ui.ids("fill.problem.");
        REQUIRE_MESSAGE(!problems.empty(), "finalize neither succeeded nor listed a problem");
        ui.click(problems.front());
    }
    FAIL("the form did not finalize");
    return -1;
}

}  // namespace veld::client::testing
