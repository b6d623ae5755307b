// Forms that carry media, written as files for tests: form JSON naming recorded clips and
// pictures, and the `<stem>-media/` folder next to it with clips made by sox and PNG pictures.
#pragma once

#include <cstdint>
#include <string>

namespace veld::test {

/// Makes a clip with sox (a tone of `seconds` at `hz`); the format follows the extension (.wav,
/// .flac, .ogg). `rate` is the sample rate. Throws std::runtime_error when sox fails.
void makeClip(const std::string& path, double seconds, int hz = 440, int rate = 16000);

/// Writes a `width` x `height` PNG of one colour (0xRRGGBB) with a white frame 4 px wide.
void makePicture(const std::string& path, int width, int height, std::uint32_t rgb);

/// Writes `<dir>/<id>.json`, a form in nl, en and so whose question `relationship` has a
/// recording per language (rel_nl.wav, rel_en.flac, rel_so.ogg), whose choices `mother`,
/// `father` have pictures (mother.png red, father.png blue) and whose choice `mother` has a
/// Somali recording (mother_so.ogg), and fills `<dir>/<id>-media/` with those files. Returns the
/// JSON file's path.
std::string writeMediaForm(const std::string& dir, const std::string& id,
                           std::uint32_t version = 1);

/// The JSON of the form above (the file names it names are fixed).
std::string mediaFormJson(const std::string& id, std::uint32_t version);

}  // namespace veld::test
