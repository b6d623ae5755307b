#include "support/media_forms.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <stb_image_write.h>

#include "support/test_support.hpp"

namespace veld::test {

void makeClip(const std::string& path, double seconds, int hz, int rate) {
    const auto made =
        runProcess({"/usr/bin/sox", "-n", "-r", std::to_string(rate), "-b", "16", "-c", "1", path,
                    "synth", std::to_string(seconds), "sine", std::to_string(hz), "vol", "0.5"});
    if (made.exitCode != 0) throw std::runtime_error("sox failed: " + made.err);
}

void makePicture(const std::string& path, int width, int height, std::uint32_t rgb) {
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width * height * 3));
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            const bool frame = x < 4 || y < 4 || x >= width - 4 || y >= height - 4;
            auto* p = &pixels[static_cast<std::size_t>((y * width + x) * 3)];
            p[0] = frame ? 255 : static_cast<std::uint8_t>(rgb >> 16);
            p[1] = frame ? 255 : static_cast<std::uint8_t>(rgb >> 8);
            p[2] = frame ? 255 : static_cast<std::uint8_t>(rgb);
        }
    }
    if (!stbi_write_png(path.c_str(), width, height, 3, pixels.data(), width * 3))
        throw std::runtime_error("cannot write " + path);
}

std::string mediaFormJson(const std::string& id, std::uint32_t version) {
    return R"({
  "id": ")" +
           id + R"(",
  "version": )" +
           std::to_string(version) +
           R"(,
  "pilot": "tests",
  "default_language": "nl",
  "languages": [{"tag": "nl", "name": "Nederlands"}, {"tag": "en", "name": "English"},
                {"tag": "so", "name": "Soomaali"}],
  "titles": [{"lang": "nl", "text": "Ouders"}, {"lang": "en", "text": "Parents"},
             {"lang": "so", "text": "Waalidiinta"}],
  "settings": {"kiosk": true, "read_aloud": true},
  "choice_lists": [
    {"name": "relation", "choices": [
      {"name": "mother", "labels": [
        {"lang": "nl", "text": "Moeder", "image": "mother.png"},
        {"lang": "en", "text": "Mother"},
        {"lang": "so", "text": "Hooyo", "audio": "mother_so.ogg"}]},
      {"name": "father", "labels": [
        {"lang": "nl", "text": "Vader", "image": "father.png"},
        {"lang": "en", "text": "Father"},
        {"lang": "so", "text": "Aabbe"}]}
    ]}
  ],
  "items": [
    {"name": "relationship", "kind": "Question", "type": "SelectOne", "choice_list": "relation",
     "required": true,
     "labels": [{"lang": "nl", "text": "Wie bent u?", "audio": "rel_nl.wav"},
                {"lang": "en", "text": "Who are you?", "audio": "rel_en.flac"},
                {"lang": "so", "text": "Yaad tahay?", "audio": "rel_so.ogg"}]}
  ]
}
)";
}

std::string writeMediaForm(const std::string& dir, const std::string& id, std::uint32_t version) {
    const std::string json = dir + "/" + id + ".json";
    const std::string media = dir + "/" + id + "-media";
    std::filesystem::create_directories(media);
    std::ofstream(json) << mediaFormJson(id, version);
    makeClip(media + "/rel_nl.wav", 1.5, 440);
    makeClip(media + "/rel_en.flac", 1.2, 550);
    makeClip(media + "/rel_so.ogg", 2.0, 660);
    makeClip(media + "/mother_so.ogg", 0.8, 330);
    makePicture(media + "/mother.png", 96, 96, 0xD02020);
    makePicture(media + "/father.png", 96, 96, 0x2040D0);
    return json;
}

}  // namespace veld::test
