// The media a form carries, checked and embedded: the limits a clip and a picture must keep, the
// rule for a media file's name, and reading the files that a form's labels name from the folder
// next to the form file (`<form file stem>-media/`, XLSForm's convention) into the compiled form.
// Every compiled form is checked against the same rules (forms::checkFormBinary), so a form whose
// media was changed on its way to a device is refused there too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <veld/form.hpp>

namespace veld::fb {
struct Form;
}  // namespace veld::fb

namespace veld::forms {

// The limits (docs/forms.md, "Media"). A clip reads one label: a sentence or a short paragraph.
// A picture is drawn at most a few hundred pixels wide. All media together keep a whole form
// well inside one sync message (sync::kMaxMessageBytes, 32 MiB) next to the cases and
// allocation blocks of the same answer.
inline constexpr std::size_t kMaxClipBytes = 4u << 20;        // 4 MiB: 60 s of 16-bit mono WAV
inline constexpr double kMaxClipSeconds = 60.0;               // a paragraph read slowly
inline constexpr std::size_t kMaxImageBytes = 1u << 20;       // 1 MiB
inline constexpr int kMaxImageSide = 1024;                    // pixels, width and height
inline constexpr std::size_t kMaxFormMediaBytes = 16u << 20;  // all media of one form
inline constexpr std::size_t kMaxFormBytes = 20u << 20;       // a compiled form with its media
inline constexpr std::size_t kMaxMediaNameLength = 100;

/// A media file's name: a plain file name of letters, digits, '.', '_' and '-', starting with a
/// letter or digit, at most kMaxMediaNameLength bytes (no folders, no "..").
[[nodiscard]] bool validMediaName(std::string_view name);

/// The folder a form file's media are read from: "forms/survey.json" -> "forms/survey-media".
[[nodiscard]] std::string mediaFolderOf(const std::string& formPath);

/// BLAKE2b-256 of `bytes`, lower-case hex: a MediaFile's digest.
[[nodiscard]] std::string mediaDigest(std::span<const std::uint8_t> bytes);

/// A label naming a media file.
struct MediaUse {
    std::string item;   // the item or choice list the label belongs to (empty: the form's title)
    std::string where;  // "label", "hint", "choice 'mother' label", "title", ...
    std::string lang;
    std::string name;
    bool image = false;  // a picture (LocalizedText.image); else a recording (.audio)
    /// "choice 'mother' label in 'so'": where the use is, for messages.
    [[nodiscard]] std::string describe() const;
};

/// Every label of the form that names a media file, in form order.
std::vector<MediaUse> mediaUses(const fb::Form& form);

/// Why `bytes` are not a usable clip (image == false) or picture: empty when they are. With
/// `fully`, every audio frame is decoded and the picture's pixels too; otherwise only the
/// headers are read (enough for the limits: duration, pixel size).
std::string mediaDataProblem(bool image, std::span<const std::uint8_t> bytes, bool fully);

/// Why a clip (image == false) or picture of `bytes` bytes is too large: empty when it is not.
std::string mediaSizeProblem(bool image, std::size_t bytes);

/// Reads the media files the form's labels name from `folder` into `binary` (Form.media, sorted
/// by name, each with its kind and digest). Files the form already carries stay. Returns the
/// problems (a missing, undecodable or oversized file is an error naming item, language and
/// file; a file in the folder that no label names is a warning) and, in `reported`, the media
/// names the errors were about. `binary` is unchanged when there is nothing to add.
std::vector<FormProblem> embedMediaFiles(std::vector<std::uint8_t>& binary,
                                         const std::string& folder, const std::string& fileName,
                                         std::vector<std::string>& reported);

/// The media problems of a compiled form (part of checkFormBinary): names valid and unique,
/// digests equal to the data, every named file carried and of its kind, the limits kept.
struct MediaIssue {
    bool error = true;
    std::string item;
    std::string message;
    std::string name;  // the media file it is about
};
std::vector<MediaIssue> checkFormMedia(const fb::Form& form, std::size_t binarySize);

}  // namespace veld::forms
