// Form definitions: compiling the JSON that authors write into the binary form devices use, and
// checking it. FlatBuffers' own parser reads the JSON against the schema Veld was built with
// (schemas/form.fbs); then Veld's checks look for what a schema cannot express: duplicate names,
// references to unknown questions, calculation cycles, expressions that do not parse, choice lists
// that do not exist, labels missing in the default language.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/result.hpp>

namespace veld::fb {
struct Item;
}

namespace veld::forms {

struct FormProblem {
    enum class Severity { Error, Warning };
    Severity severity = Severity::Error;
    std::string file;
    int line = 0;      // 1-based line in the JSON file; 0 when unknown
    std::string item;  // item (question, group, choice list) the problem is about; may be empty
    std::string message;
    /// In a workbook, the cell the problem is about ("survey!D14"); then `line` is 0.
    std::string cell;
    /// "forms/x.json:12: item 'age': constraint: column 3: expected a value", or for a workbook
    /// "forms/x.xlsx:survey!D14: error: item 'age': ..."
    [[nodiscard]] std::string describe() const;
};

struct FormCheck {
    std::vector<std::uint8_t> binary;  // the compiled form (empty when the JSON did not parse)
    std::vector<FormProblem> problems;
    [[nodiscard]] bool ok() const;  // no errors (warnings allowed)
};

/// Compiles form JSON (`fileName` is used in messages and to find lines). With `mediaFolder`, the
/// media files the labels name are read from that folder into the form (form_media_files.hpp).
FormCheck compileFormJson(std::string_view json, const std::string& fileName,
                          const std::string& mediaFolder = {});

/// Reads a file: JSON (compiled as above, its media read from `<file stem>-media/` next to it) or
/// a compiled binary form (verified and checked).
FormCheck loadFormFile(const std::string& path);

/// Checks a compiled form: the FlatBuffers Verifier, then Veld's checks. `json`, when given, is
/// the source the binary was compiled from, used only to find line numbers.
std::vector<FormProblem> checkFormBinary(std::span<const std::uint8_t> binary,
                                         const std::string& fileName, std::string_view json = {});

/// Whether `word` is an appearance word Veld honours (XLSForm's `appearance` column): `minimal`
/// (a select one as a drop-down list), `horizontal` (choices in columns), `horizontal-compact`
/// (choices side by side), `likert` (a select one as a Likert row), `multiline` (longer text).
/// The form checks warn about any other word, and about a word on a type it does nothing for.
[[nodiscard]] bool knownAppearance(std::string_view word);

/// Whether the item's space-separated `appearance` holds `word`.
[[nodiscard]] bool hasAppearance(const fb::Item& item, std::string_view word);

/// Whether two compiled forms are the same form: the same bytes, or the same content in another
/// field order (a form imported from a workbook and the JSON the workbook came from). What
/// publishing and installing compare: a published version never changes its content.
[[nodiscard]] bool sameForm(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

/// The item tree with its logic, for people reviewing a form (veldctl form show).
std::string describeForm(std::span<const std::uint8_t> binary, const std::string& language = {});

}  // namespace veld::forms
