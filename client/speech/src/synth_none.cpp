// A build without a speech synthesiser (Veld for Windows: Debian's espeak-ng source cannot be
// fetched for it): no voice speaks any language, so read-aloud plays a form's recorded clips and
// says which texts have none, as it does on Linux for a language espeak-ng lacks.
#include "audio.hpp"

namespace veld::speech::detail {

const std::set<std::string, std::less<>>& voices() {
    static const std::set<std::string, std::less<>> none;
    return none;
}

std::string voiceFor(std::string_view) {
    return {};
}

std::vector<std::int16_t> synthesize(std::string_view, std::string_view, const std::atomic<bool>*) {
    return {};
}

}  // namespace veld::speech::detail
