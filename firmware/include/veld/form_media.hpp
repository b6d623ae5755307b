// The media a form carries: recorded readings of its labels and pictures of its choices. Labels
// name media files (LocalizedText.audio / .image); the files' bytes are inside the compiled form.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include <flatbuffers/flatbuffers.h>

namespace veld::fb {
struct Form;
struct LocalizedText;
struct MediaFile;
}  // namespace veld::fb

namespace veld::forms {

using LocalizedTexts = flatbuffers::Vector<flatbuffers::Offset<fb::LocalizedText>>;

/// The form's media file called `name`; null when there is none.
const fb::MediaFile* mediaFile(const fb::Form& form, std::string_view name);

/// The bytes of a media file (empty when it has none).
std::span<const std::uint8_t> mediaBytes(const fb::MediaFile& file);

/// The recorded reading of `texts` in `language`: its media name, or empty when that language's
/// text has none (a recording is never taken from another language).
std::string_view labelAudio(const LocalizedTexts* texts, std::string_view language);

/// The picture shown with `texts` in `language`: that language's image, else the first image any
/// language names (a picture rarely depends on the language); empty when there is none.
std::string_view labelImage(const LocalizedTexts* texts, std::string_view language);

}  // namespace veld::forms
