// Whether two compiled forms say the same: the same bytes, or the same form written in another
// field order (a form imported from a workbook and the JSON it was exported from compile to
// different bytes for the same form).
#include <algorithm>

#include <flatbuffers/idl.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>

namespace veld::forms {

extern const char* const kFormSchemaText;

namespace {

// The form as FlatBuffers' text generator prints it: fields in schema order, defaults left out.
std::optional<std::string> canonicalText(std::span<const std::uint8_t> binary) {
    flatbuffers::Verifier verifier(binary.data(), binary.size(), 64, 1000000);
    if (binary.size() < 8 || !fb::FormBufferHasIdentifier(binary.data()) ||
        !fb::VerifyFormBuffer(verifier))
        return std::nullopt;
    flatbuffers::IDLOptions options;
    options.strict_json = true;
    flatbuffers::Parser parser(options);
    if (!parser.Parse(kFormSchemaText, nullptr, "form.fbs")) return std::nullopt;
    std::string text;
    if (!flatbuffers::GenerateText(parser, binary.data(), &text)) return std::nullopt;
    return text;
}

}  // namespace

bool sameForm(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    if (std::equal(a.begin(), a.end(), b.begin(), b.end())) return true;
    const auto left = canonicalText(a);
    const auto right = canonicalText(b);
    return left && right && *left == *right;
}

}  // namespace veld::forms
