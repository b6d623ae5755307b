// What a device does with a form it accepted, shared by the form-json and form-binary targets.
#pragma once

#include <cstdint>
#include <vector>

namespace veld::fuzz {

/// `binary` passed checkFormBinary without errors: describe it, load it as a CompiledForm, and
/// fill it in through form sessions (every language, with a case when the form follows one up),
/// checking what a session promises: its draft reopens, and its final content is a record the
/// store can write.
void exerciseForm(const std::vector<std::uint8_t>& binary);

}  // namespace veld::fuzz
