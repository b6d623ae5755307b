// Form JSON as `veldctl form check|compile|show` reads it: FlatBuffers' parser against the
// built-in schema, then Veld's checks; `show` describes any form that parsed, errors or not; a
// form without errors is then loaded and filled in as a device would.
#include <veld/form.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"
#include "targets/form_exercise.hpp"

namespace veld::fuzz {

int formJson(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    const auto check = forms::compileFormJson(asText(data, size), "fuzz.json");
    for (const auto& p : check.problems)
        (void)p.describe();
    if (check.binary.empty()) {
        FUZZ_CHECK(!check.ok());
        return 0;
    }
    (void)forms::describeForm(check.binary);
    if (check.ok()) exerciseForm(check.binary);
    return 0;
}

}  // namespace veld::fuzz
