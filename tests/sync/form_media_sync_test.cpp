// Forms with media published at a real collector (veldctl collector publish) and pulled by a
// device over loopback: bad media are refused at publish, good media arrive byte for byte, and
// large forms come in several answers, each within one sync message.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/form_media.hpp>
#include <veld/form_media_files.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/uploader.hpp>

#include "support/media_forms.hpp"
#include "support/sync_support.hpp"

using namespace veld;

namespace {

std::size_t publishedCount(const test::CollectorProcess& collector) {
    auto forms = collector.open()->publishedForms();
    REQUIRE(forms);
    return forms->size();
}

}  // namespace

TEST_CASE("publishing a form with a bad or oversized clip fails clearly and publishes nothing") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const auto bad = test::writeMediaForm(dir.path(), "bad_form");
    const auto good = test::writeMediaForm(dir.path(), "good_form");

    SUBCASE("a corrupt clip") {
        std::ofstream(dir.file("bad_form-media/rel_so.ogg")) << "OggS but not really a clip";
        const auto done = test::veldctl({"collector", "publish", collector.storePath(), bad});
        CHECK(done.exitCode != 0);
        CHECK(done.err.find("bad_form.json: error: item 'relationship': label in 'so': media file "
                            "'bad_form-media/rel_so.ogg' is not a recording libsndfile can read") !=
              std::string::npos);
    }
    SUBCASE("an oversized clip") {
        test::makeClip(dir.file("bad_form-media/rel_en.flac"), 59, 440, 96000);
        test::makeClip(dir.file("bad_form-media/rel_nl.wav"), 59, 440, 48000);
        const auto done = test::veldctl({"collector", "publish", collector.storePath(), bad});
        CHECK(done.exitCode != 0);
        CHECK(done.err.find("label in 'nl': media file 'bad_form-media/rel_nl.wav' is 5.4 MiB; a "
                            "clip may be at most 4 MiB") != std::string::npos);
    }
    CHECK(publishedCount(collector) == 0);
    // The same form with good media publishes.
    const auto done = test::veldctl({"collector", "publish", collector.storePath(), good});
    CHECK_MESSAGE(done.exitCode == 0, done.err);
    CHECK(publishedCount(collector) == 1);
}

TEST_CASE("a device pulls a published form with its media byte for byte") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    const auto json = test::writeMediaForm(dir.path(), "parents_media");
    const auto published = test::veldctl({"collector", "publish", collector.storePath(), json});
    REQUIRE_MESSAGE(published.exitCode == 0, published.err);
    collector.start();

    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    auto installed = device.form("parents_media", 1);
    REQUIRE(installed);
    const auto* form = fb::GetForm(installed->binary.data());
    REQUIRE(form->media());
    CHECK(form->media()->size() == 6);
    for (const auto* file : *form->media()) {
        const auto bytes = forms::mediaBytes(*file);
        CHECK(std::vector<std::uint8_t>(bytes.begin(), bytes.end()) ==
              test::readBytes(dir.file("parents_media-media/" + file->name()->str())));
    }
    // The Somali kiosk shows the mother's picture (named on the Dutch label) with her choice.
    const auto* mother = form->choice_lists()->Get(0)->choices()->Get(0);
    CHECK(forms::labelImage(mother->labels(), "so") == "mother.png");
    CHECK(forms::labelAudio(mother->labels(), "so") == "mother_so.ogg");
}

TEST_CASE("large forms are pulled in several answers, each within one sync message") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    // Three forms of four 59.5 s clips each (60 s of 32 kHz 16-bit mono WAV: 3.8 MB): 15.2 MB of
    // media per form, near the 16 MiB a form may carry.
    std::vector<std::string> files;
    for (int f = 0; f < 3; ++f) {
        const std::string id = "large_" + std::to_string(f);
        const auto json = test::writeMediaForm(dir.path(), id);
        std::string text = test::mediaFormJson(id, 1);
        std::string items;
        for (int i = 0; i < 4; ++i) {
            const auto name = "long" + std::to_string(i) + ".wav";
            test::makeClip(dir.file(id + "-media/" + name), 59.5, 200 + 100 * f + 20 * i, 32000);
            items +=
                R"(, {"name": "note)" + std::to_string(i) +
                R"(", "kind": "Question", "type": "Note", "labels": [{"lang": "nl", "text": "Uitleg", "audio": ")" +
                name + R"("}]})";
        }
        text.insert(text.rfind("]\n}"), items);
        std::ofstream(json) << text;
        files.push_back(json);
    }
    std::vector<std::string> publish{"collector", "publish", collector.storePath()};
    publish.insert(publish.end(), files.begin(), files.end());
    const auto published = test::veldctl(publish);
    REQUIRE_MESSAGE(published.exitCode == 0, published.err);
    collector.start();

    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);

    // The collector's answers, as it builds them for this device: forms a few at a time.
    {
        auto store = collector.open();
        sync::PullRequest request;
        request.protocolVersion = sync::kProtocolVersion;
        int answers = 0;
        std::size_t forms = 0;
        for (;;) {
            auto reply = store->pull(device.deviceId(), request, 16, 1700000000000);
            REQUIRE(reply);
            const auto body = sync::encodePullResponse(reply.value());
            CHECK(body.size() <= sync::kMaxMessageBytes);
            CHECK(body.size() > 15'000'000);
            ++answers;
            forms += reply->forms.size();
            request.formCursor = reply->formCursor;
            request.caseCursor = reply->caseCursor;
            request.allocationCursor = reply->allocationCursor;
            if (!reply->more) break;
            REQUIRE(answers < 10);
        }
        CHECK(forms == 3);
        CHECK(answers == 3);
    }

    // The device pulls them all in one round (pulling again while the collector says more).
    auto round = sync::syncOnce(device, connection, {});
    REQUIRE_MESSAGE(round, round.error().describe());
    CHECK(round->formsReceived == 3);
    for (int f = 0; f < 3; ++f) {
        const std::string id = "large_" + std::to_string(f);
        auto installed = device.form(id, 1);
        REQUIRE(installed);
        const auto* clip = forms::mediaFile(*fb::GetForm(installed->binary.data()), "long3.wav");
        REQUIRE(clip);
        const auto bytes = forms::mediaBytes(*clip);
        CHECK(std::vector<std::uint8_t>(bytes.begin(), bytes.end()) ==
              test::readBytes(dir.file(id + "-media/long3.wav")));
    }
}
