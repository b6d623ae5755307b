// XLSForm's media columns: a label's recording and picture per language (`media::audio::Soomaali
// (so)`, `audio::so`, `image`, ...) and the read_aloud setting, read from a workbook written by
// openpyxl, and a form with media written as a workbook (and its media folder) and read back.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <flatbuffers/idl.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_media.hpp>
#include <veld/xlsform.hpp>

#include "support/media_forms.hpp"
#include "support/test_support.hpp"

namespace veld::forms {
extern const char* const kFormSchemaText;
}

using namespace veld;

namespace {

std::string canonical(const std::vector<std::uint8_t>& binary) {
    flatbuffers::IDLOptions options;
    options.strict_json = true;
    flatbuffers::Parser parser(options);
    REQUIRE(parser.Parse(forms::kFormSchemaText, nullptr, "form.fbs"));
    std::string text;
    REQUIRE(flatbuffers::GenerateText(parser, binary.data(), &text));
    return text;
}

std::string describe(const forms::FormCheck& check) {
    std::string out;
    for (const auto& p : check.problems)
        out += p.describe() + "\n";
    return out;
}

}  // namespace

TEST_CASE("a form with media survives JSON -> workbook and media folder -> form unchanged") {
    test::TempDir dir;
    std::filesystem::create_directories(dir.file("src"));
    const auto original = forms::loadFormFile(test::writeMediaForm(dir.file("src"), "parents"));
    REQUIRE_MESSAGE(original.ok(), describe(original));
    const auto xlsx = dir.file("parents.xlsx");
    const Status written = xlsform::exportWorkbook(original.binary, xlsx);
    REQUIRE_MESSAGE(written, written.error().describe());
    // The media go next to the workbook, byte for byte.
    for (const auto* name : {"rel_nl.wav", "rel_so.ogg", "mother.png", "mother_so.ogg"})
        CHECK(test::readFile(dir.file(std::string("parents-media/") + name)) ==
              test::readFile(dir.file(std::string("src/parents-media/") + name)));

    const auto imported = xlsform::importWorkbook(xlsx);
    REQUIRE_MESSAGE(imported.check.ok(), describe(imported.check));
    CHECK(imported.check.problems.size() == original.problems.size());
    CHECK(canonical(imported.check.binary) == canonical(original.binary));
    CHECK(imported.json.find("\"audio\": \"rel_so.ogg\"") != std::string::npos);
    CHECK(fb::GetForm(imported.check.binary.data())->settings()->read_aloud());

    // Written again from what was read: the same workbook, byte for byte.
    REQUIRE(xlsform::exportWorkbook(imported.check.binary, dir.file("again.xlsx")));
    CHECK(test::readFile(dir.file("again.xlsx")) == test::readFile(xlsx));

    // The workbook's headers, as openpyxl reads them.
    const auto headers =
        test::runProcess({"/usr/bin/python3", "-c",
                          "import openpyxl,sys\nb=openpyxl.load_workbook(sys.argv[1])\nfor s in "
                          "('survey','choices','settings'):\n"
                          "  print(s, '|'.join(str(c.value) for c in b[s][1]))",
                          xlsx});
    REQUIRE_MESSAGE(headers.exitCode == 0, headers.err);
    CHECK(headers.out.find("media::audio::Nederlands (nl)|media::audio::English (en)|"
                           "media::audio::Soomaali (so)") != std::string::npos);
    CHECK(headers.out.find("media::image::Nederlands (nl)") != std::string::npos);
    CHECK(headers.out.find("read_aloud") != std::string::npos);
    // No picture column on the survey sheet: no question names one.
    const auto survey = headers.out.substr(0, headers.out.find("\nchoices"));
    CHECK(survey.find("media::image") == std::string::npos);
}

TEST_CASE("a workbook's media columns in XLSForm's spellings are read into the labels") {
    test::TempDir dir;
    const std::string script = R"(
import openpyxl, sys
b = openpyxl.Workbook()
s = b.active
s.title = 'survey'
s.append(['type', 'name', 'label::Nederlands (nl)', 'label::Soomaali (so)', 'audio::nl',
          'media::audio::Soomaali (so)', 'media::image'])
s.append(['select_one relation', 'relationship', 'Wie bent u?', 'Yaad tahay?', 'rel_nl.wav',
          'rel_so.ogg', ''])
c = b.create_sheet('choices')
c.append(['list_name', 'name', 'label::Nederlands (nl)', 'label::Soomaali (so)', 'image',
          'media::image::Soomaali (so)', 'audio::Soomaali (so)'])
c.append(['relation', 'mother', 'Moeder', 'Hooyo', 'mother.png', '', 'mother_so.ogg'])
c.append(['relation', 'father', 'Vader', 'Aabbe', '', 'father.png', ''])
t = b.create_sheet('settings')
t.append(['form_id', 'version', 'default_language', 'read_aloud'])
t.append(['parents_xls', 1, 'nl', 'yes'])
b.save(sys.argv[1])
)";
    const auto xlsx = dir.file("parents_xls.xlsx");
    const auto made = test::runProcess({"/usr/bin/python3", "-c", script, xlsx});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);
    const std::string media = dir.file("parents_xls-media/");
    std::filesystem::create_directories(media);
    test::makeClip(media + "rel_nl.wav", 1.0);
    test::makeClip(media + "rel_so.ogg", 1.0);
    test::makeClip(media + "mother_so.ogg", 0.5);
    test::makePicture(media + "mother.png", 64, 64, 0xff0000);
    test::makePicture(media + "father.png", 64, 64, 0x0000ff);

    const auto check = xlsform::loadAnyFormFile(xlsx);
    REQUIRE_MESSAGE(check.ok(), describe(check));
    const auto* form = fb::GetForm(check.binary.data());
    CHECK(form->settings()->read_aloud());
    CHECK(form->media()->size() == 5);
    const auto* q = form->items()->Get(0);
    CHECK(forms::labelAudio(q->labels(), "nl") == "rel_nl.wav");
    CHECK(forms::labelAudio(q->labels(), "so") == "rel_so.ogg");
    const auto* choices = form->choice_lists()->Get(0)->choices();
    CHECK(forms::labelImage(choices->Get(0)->labels(), "nl") == "mother.png");
    CHECK(forms::labelAudio(choices->Get(0)->labels(), "so") == "mother_so.ogg");
    CHECK(forms::labelImage(choices->Get(1)->labels(), "so") == "father.png");
    // A picture named in one language is shown in every language.
    CHECK(forms::labelImage(choices->Get(1)->labels(), "nl") == "father.png");

    // A missing file is an error naming the workbook and the file.
    std::filesystem::remove(media + "father.png");
    const auto missing = xlsform::loadAnyFormFile(xlsx);
    CHECK_FALSE(missing.ok());
    CHECK(describe(missing).find("media file 'parents_xls-media/father.png' is missing") !=
          std::string::npos);
}
