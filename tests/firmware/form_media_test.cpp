// Forms carrying media: clips and pictures read from the form's media folder into the compiled
// form, checked by digest, decoding and limits, and refused with clear messages.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <doctest/doctest.h>

#include <veld/clock.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_media.hpp>
#include <veld/form_media_files.hpp>
#include <veld/store.hpp>

#include "support/media_forms.hpp"
#include "support/test_support.hpp"

using namespace veld;

namespace {

std::string errors(const forms::FormCheck& check) {
    std::string out;
    for (const auto& p : check.problems)
        if (p.severity == forms::FormProblem::Severity::Error) out += p.describe() + "\n";
    return out;
}

std::string everything(const forms::FormCheck& check) {
    std::string out;
    for (const auto& p : check.problems)
        out += p.describe() + "\n";
    return out;
}

void writeFile(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("a form's clips and pictures are read from its media folder into the compiled form") {
    test::TempDir dir;
    const auto json = test::writeMediaForm(dir.path(), "parents");
    // A file nobody names is left out, with a warning.
    test::makeClip(dir.file("parents-media/unused_ti.ogg"), 0.5);
    const auto check = forms::loadFormFile(json);
    REQUIRE_MESSAGE(check.ok(), everything(check));
    CHECK(everything(check).find("media file 'parents-media/unused_ti.ogg' is named by no label") !=
          std::string::npos);

    const auto* form = fb::GetForm(check.binary.data());
    REQUIRE(form->media());
    std::vector<std::string> names;
    for (const auto* m : *form->media())
        names.push_back(m->name()->str());
    CHECK(names == std::vector<std::string>{"father.png", "mother.png", "mother_so.ogg",
                                            "rel_en.flac", "rel_nl.wav", "rel_so.ogg"});
    for (const auto& name : names) {
        const auto* file = forms::mediaFile(*form, name);
        REQUIRE(file);
        const auto expected = test::readBytes(dir.file("parents-media/" + name));
        const auto bytes = forms::mediaBytes(*file);
        CHECK(std::vector<std::uint8_t>(bytes.begin(), bytes.end()) == expected);
        CHECK(file->digest()->str() == forms::mediaDigest(expected));
        CHECK(file->digest()->size() == 64);
        CHECK(file->kind() ==
              (name.ends_with(".png") ? fb::MediaKind::Image : fb::MediaKind::Audio));
    }
    // b2sum (coreutils) computes the same BLAKE2b-256.
    const auto sum =
        test::runProcess({"/usr/bin/b2sum", "-l", "256", dir.file("parents-media/rel_so.ogg")});
    REQUIRE(sum.exitCode == 0);
    CHECK(sum.out.substr(0, 64) == forms::mediaFile(*form, "rel_so.ogg")->digest()->str());
    CHECK(form->settings()->read_aloud());

    // The real flatc reads the binary back against the schema.
    const auto vfrm = dir.file("parents.vfrm");
    writeFile(vfrm, check.binary);
    std::filesystem::create_directories(dir.file("flatc"));
    const auto flatc =
        test::runProcess({"/usr/bin/flatc", "--json", "--raw-binary", "-I",
                          std::string(VELD_SOURCE_DIR) + "/schemas", "-o", dir.file("flatc"),
                          std::string(VELD_SOURCE_DIR) + "/schemas/form.fbs", "--", vfrm});
    REQUIRE_MESSAGE(flatc.exitCode == 0, flatc.err);
    std::ifstream in(dir.file("flatc/parents.json"));
    const std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(!back.empty());
    CHECK(back.find(forms::mediaFile(*form, "mother.png")->digest()->str()) != std::string::npos);
    CHECK(back.find("name: \"rel_so.ogg\"") != std::string::npos);
    CHECK(back.find("kind: \"Image\"") != std::string::npos);

    // The compiled form is a form file of its own: it loads and checks again, unchanged.
    const auto again = forms::loadFormFile(vfrm);
    CHECK_MESSAGE(again.ok(), everything(again));
    CHECK(again.binary == check.binary);
    // Compiling twice gives the same bytes.
    CHECK(forms::loadFormFile(json).binary == check.binary);
}

TEST_CASE("a form without media compiles to the same bytes as before, folder or not") {
    test::TempDir dir;
    const std::string source = std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json";
    std::ifstream in(source);
    const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto plain = forms::compileFormJson(json, "valid_minimal.json");
    REQUIRE(plain.ok());
    std::ofstream(dir.file("valid_minimal.json")) << json;
    std::filesystem::create_directories(dir.file("valid_minimal-media"));
    const auto loaded = forms::loadFormFile(dir.file("valid_minimal.json"));
    CHECK(loaded.ok());
    CHECK(loaded.binary == plain.binary);
}

TEST_CASE("bad media are refused with a message naming item, language and file") {
    test::TempDir dir;
    const auto json = test::writeMediaForm(dir.path(), "parents");
    const auto media = dir.file("parents-media/");

    SUBCASE("a missing file") {
        std::filesystem::remove(media + "rel_so.ogg");
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("error: item 'relationship': label in 'so': media file "
                     "'parents-media/rel_so.ogg' is missing") != std::string::npos);
        // Reported once, not again as "not carried".
        CHECK(e.find("not carried") == std::string::npos);
    }
    SUBCASE("random bytes named .ogg") {
        std::mt19937 random(7);
        std::vector<std::uint8_t> noise(20000);
        for (auto& b : noise)
            b = static_cast<std::uint8_t>(random());
        writeFile(media + "rel_so.ogg", noise);
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("item 'relationship': label in 'so': media file 'parents-media/rel_so.ogg' "
                     "is not a recording libsndfile can read") != std::string::npos);
    }
    SUBCASE("a truncated Ogg clip") {
        test::makeClip(media + "rel_so.ogg", 5.0);
        auto bytes = test::readBytes(media + "rel_so.ogg");
        bytes.resize(bytes.size() / 2);
        writeFile(media + "rel_so.ogg", bytes);
        const auto check = forms::loadFormFile(json);
        // libsndfile may read half a clip without complaint; a half clip is still a clip. What
        // must not happen is a form that lies about its bytes.
        if (check.ok()) {
            const auto* f = forms::mediaFile(*fb::GetForm(check.binary.data()), "rel_so.ogg");
            REQUIRE(f);
            CHECK(forms::mediaBytes(*f).size() == bytes.size());
        } else {
            CHECK(errors(check).find("rel_so.ogg") != std::string::npos);
        }
    }
    SUBCASE("a clip over the size limit") {
        // 70 s of 44.1 kHz 16-bit mono WAV: 6.2 MB (5.8 MiB).
        test::makeClip(media + "rel_nl.wav", 70, 440, 44100);
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("item 'relationship': label in 'nl': media file 'parents-media/rel_nl.wav' is "
                     "5.8 MiB; a clip may be at most 4 MiB") != std::string::npos);
    }
    SUBCASE("a clip over the duration limit") {
        test::makeClip(media + "rel_so.ogg", 75, 440, 8000);
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("label in 'so': media file 'parents-media/rel_so.ogg' is 75 s long; a clip "
                     "may last at most 60 s") != std::string::npos);
    }
    SUBCASE("a picture that is not a picture") {
        std::filesystem::copy_file(media + "rel_nl.wav", media + "mother.png",
                                   std::filesystem::copy_options::overwrite_existing);
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("item 'relation': choice 'mother' label in 'nl': media file "
                     "'parents-media/mother.png' is not a PNG or JPEG picture") !=
              std::string::npos);
    }
    SUBCASE("a PNG header over broken pixels") {
        auto png = test::readBytes(media + "mother.png");
        png.resize(60);
        writeFile(media + "mother.png", png);
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("media file 'parents-media/mother.png' does not decode") != std::string::npos);
    }
    SUBCASE("a picture larger than the pixel limit") {
        test::makePicture(media + "father.png", 1500, 20, 0x00ff00);
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("'parents-media/father.png' is 1500x20 pixels; a picture may be at most "
                     "1024x1024") != std::string::npos);
    }
    SUBCASE("a path-like name") {
        std::ofstream(dir.file("secret.wav")) << "x";
        auto text = test::mediaFormJson("parents", 1);
        text.replace(text.find("rel_nl.wav"), 10, "../secret.wav");
        std::ofstream(json) << text;
        const auto e = errors(forms::loadFormFile(json));
        CHECK(
            e.find("item 'relationship': label in 'nl': '../secret.wav' is not a plain media file "
                   "name") != std::string::npos);
    }
    SUBCASE("the same file as a recording and a picture") {
        auto text = test::mediaFormJson("parents", 1);
        text.replace(text.find("father.png"), 10, "rel_nl.wav");
        std::ofstream(json) << text;
        const auto e = errors(forms::loadFormFile(json));
        CHECK(e.find("media file 'rel_nl.wav' is used both as a recording and as a picture") !=
              std::string::npos);
    }
}

TEST_CASE("the form's media together must stay under the form limit") {
    test::TempDir dir;
    const auto json = test::writeMediaForm(dir.path(), "parents");
    // Five near-limit clips (3.8 MB each: 60 s of 32 kHz mono WAV) pass one by one, not together.
    std::string text = test::mediaFormJson("parents", 1);
    std::string items;
    for (int i = 0; i < 5; ++i) {
        const auto name = "long" + std::to_string(i) + ".wav";
        test::makeClip(dir.file("parents-media/" + name), 59.5, 300 + 50 * i, 32000);
        items +=
            R"(, {"name": "note)" + std::to_string(i) +
            R"(", "kind": "Question", "type": "Note", "labels": [{"lang": "nl", "text": "Uitleg", "audio": ")" +
            name + R"("}]})";
    }
    text.insert(text.rfind("]\n}"), items);
    std::ofstream(json) << text;
    const auto e = errors(forms::loadFormFile(json));
    CHECK(e.find("the form's media add up to 18.") != std::string::npos);
    CHECK(e.find("a form may carry at most 16 MiB") != std::string::npos);
}

TEST_CASE("a compiled form whose media bytes were changed is refused by checkFormBinary") {
    test::TempDir dir;
    const auto check = forms::loadFormFile(test::writeMediaForm(dir.path(), "parents"));
    REQUIRE(check.ok());
    CHECK(forms::checkFormBinary(check.binary, "parents.vfrm").empty());
    const auto* form = fb::GetForm(check.binary.data());
    const auto* clip = forms::mediaFile(*form, "rel_so.ogg");
    const auto offset =
        static_cast<std::size_t>(forms::mediaBytes(*clip).data() - check.binary.data());

    auto changed = check.binary;
    changed[offset + forms::mediaBytes(*clip).size() / 2] ^= 0x01;  // one bit
    std::string messages;
    for (const auto& p : forms::checkFormBinary(changed, "parents.vfrm"))
        messages += p.describe() + "\n";
    CHECK(messages.find("error: media file 'rel_so.ogg' does not match its digest") !=
          std::string::npos);

    // A device installs nothing from it.
    // A manual clock, as the other store tests: ids made now would be later than the ones the
    // UUID tests expect from their own clocks.
    ManualClock clock(1764000000000);
    auto store = Store::open(dir.file("device.db"),
                             {.mode = sql::OpenMode::ReadWriteCreate, .clock = &clock});
    REQUIRE(store);
    CHECK_FALSE(store->installForm(changed));
    CHECK(store->installForm(check.binary));
}
