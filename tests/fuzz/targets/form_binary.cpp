// Compiled forms (.vfrm) as a device installs them from a pull (Store::installForm runs
// checkFormBinary and refuses any error) and then loads and fills them.
#include <veld/form.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"
#include "targets/form_exercise.hpp"

namespace veld::fuzz {

int formBinary(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    const std::vector<std::uint8_t> binary(data, data + size);
    const auto problems = forms::checkFormBinary(binary, "fuzz.vfrm");
    bool errors = false;
    for (const auto& p : problems) {
        (void)p.describe();
        errors = errors || p.severity == forms::FormProblem::Severity::Error;
    }
    if (!errors) exerciseForm(binary);
    return 0;
}

}  // namespace veld::fuzz
