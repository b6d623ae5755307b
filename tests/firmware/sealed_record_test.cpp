// Sealed records: the answers of a sealed form are encrypted to the project key before they are
// written, the device keeps only what sync needs, and only the private key opens them again.
#include <doctest/doctest.h>
#include <flatbuffers/flatbuffers.h>

#include <veld/clock.hpp>
#include <veld/fb/record_generated.h>
#include <veld/form.hpp>
#include <veld/project_key.hpp>
#include <veld/sealed_record.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

using namespace veld;

namespace {

constexpr std::string_view kMarker = "Zonnebloemveld-7731";

struct Keys {
    projectkey::LockedKey locked;
    std::vector<projectkey::SecretKey> secret;
};

Keys makeKey(const std::string& id) {
    auto locked = projectkey::create(id, "a long enough passphrase", 1'764'000'000'000,
                                     projectkey::Strength::Interactive);
    REQUIRE(locked);
    auto unlocked = projectkey::unlock(locked.value(), "a long enough passphrase");
    REQUIRE(unlocked);
    return {locked.value(), {unlocked.value()}};
}

Record sampleRecord() {
    ManualClock clock(1'764'000'000'000);
    Record r;
    r.id = makeUuidV7(clock);
    r.deviceId = makeUuidV7(clock);
    r.hlc = HlcTimestamp::make(1'764'000'000'000, 2);
    r.createdHlc = HlcTimestamp::make(1'764'000'000'000, 1);
    r.finalized = true;
    r.content = test::sampleContent(7, "parent_survey");
    r.content.answers.push_back({"remark", std::string(kMarker)});
    r.content.paradata.language = "ar";
    return r;
}

bool contains(std::span<const std::uint8_t> bytes, std::string_view text) {
    return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()).find(text) !=
           std::string_view::npos;
}

std::vector<std::uint8_t> sealedForm(const std::string& settings) {
    std::string json =
        test::readFile(std::string(VELD_SOURCE_DIR) + "/tests/forms/valid_minimal.json");
    const std::string from = R"("settings": {"summary_question": "visit_date"})";
    const auto at = json.find(from);
    REQUIRE(at != std::string::npos);
    json.replace(at, from.size(),
                 R"("settings": {"summary_question": "visit_date", )" + settings + "}");
    auto check = forms::compileFormJson(json, "valid_minimal.json");
    REQUIRE_FALSE(check.binary.empty());
    return check.binary;
}

RecordContent minimalContent(std::string_view marker) {
    RecordContent c;
    c.formId = "valid_minimal";
    c.formVersion = 1;
    c.answers.push_back({"visit_date", DateAnswer{20'000}});
    c.answers.push_back({"age", std::int64_t{41}});
    // A text answer the form does not know: the store seals whatever the session hands it.
    c.answers.push_back({"note", std::string(marker)});
    c.paradata.language = "nl";
    c.paradata.kiosk = true;
    return c;
}

std::string fileText(const std::string& path) {
    try {
        return test::readFile(path);
    } catch (const std::exception&) {
        return {};
    }
}

}  // namespace

TEST_CASE("a sealed record keeps only its metadata in clear, and opens only with its key") {
    const Keys key = makeKey("pilot-2026");
    const Record plain = sampleRecord();
    auto sealed = sealRecord(plain, key.locked.publicKey);
    REQUIRE_MESSAGE(sealed, sealed.error().describe());
    CHECK(sealed->content.answers.empty());
    CHECK(sealed->content.paradata == Paradata{});
    REQUIRE(sealed->sealed);
    CHECK(sealed->sealed->keyId == "pilot-2026");

    auto body = encodeRecord(sealed.value());
    REQUIRE_MESSAGE(body, body.error().describe());
    CHECK_FALSE(contains(body.value(), kMarker));

    // What sync and the collector see: the header, sound, and marked sealed.
    auto header = inspectRecord(body.value());
    REQUIRE(header);
    CHECK(header->sealed);
    CHECK(header->id == plain.id);
    CHECK(header->formId == "parent_survey");
    CHECK(header->hlc == plain.hlc);

    auto decoded = decodeRecord(body.value());
    REQUIRE(decoded);
    CHECK(decoded.value() == sealed.value());
    CHECK(decoded->content.answers.empty());

    auto opened = openRecord(decoded.value(), key.secret);
    REQUIRE_MESSAGE(opened, opened.error().describe());
    CHECK(opened->content == test::normalized(plain.content));
    CHECK(opened->id == plain.id);
    CHECK_FALSE(opened->sealed);

    // Without the key it names the key it needs; another key with the same id does not open it.
    auto none = openRecord(decoded.value(), {});
    REQUIRE_FALSE(none);
    CHECK(none.error().code == ErrorCode::NotFound);
    CHECK(none.error().message.find("pilot-2026") != std::string::npos);
    const Keys impostor = makeKey("pilot-2026");
    auto wrong = openRecord(decoded.value(), impostor.secret);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == ErrorCode::Corrupt);

    // A record that is not sealed comes back as it is.
    auto clear = openRecord(plain, {});
    REQUIRE(clear);
    CHECK(clear.value() == plain);
}

TEST_CASE("a sealed box moved to another record, or changed, does not open") {
    const Keys key = makeKey("k1");
    const Record first = sampleRecord();
    Record second = sampleRecord();
    auto a = sealRecord(first, key.locked.publicKey);
    auto b = sealRecord(second, key.locked.publicKey);
    REQUIRE(a);
    REQUIRE(b);

    // The box of the first record under the second record's metadata.
    Record swapped = b.value();
    swapped.sealed = a->sealed;
    auto moved = openRecord(swapped, key.secret);
    REQUIRE_FALSE(moved);
    CHECK(moved.error().code == ErrorCode::Corrupt);
    CHECK(moved.error().message.find("another record") != std::string::npos);

    // The same record, a later revision's metadata: refused too.
    Record later = a.value();
    later.hlc = HlcTimestamp::make(later.hlc.millis() + 1, 0);
    CHECK_FALSE(openRecord(later, key.secret));

    Record flipped = a.value();
    REQUIRE(flipped.sealed.has_value());
    auto& box = flipped.sealed.value().box;
    box[box.size() / 2] ^= 0x20;
    auto damaged = openRecord(flipped, key.secret);
    REQUIRE_FALSE(damaged);
    CHECK(damaged.error().code == ErrorCode::Corrupt);
}

TEST_CASE("a body that is sealed and also carries answers in clear is refused") {
    const Keys key = makeKey("k1");
    Record r = sampleRecord();
    auto sealed = sealRecord(r, key.locked.publicKey);
    REQUIRE(sealed);
    // encodeRecord refuses to write one ...
    Record both = sealed.value();
    both.content.answers = r.content.answers;
    CHECK_FALSE(encodeRecord(both));
    Record noKey = sealed.value();
    noKey.sealed->keyId = "bad id!";
    CHECK_FALSE(encodeRecord(noKey));

    // ... and a crafted body that has both fails verification.
    flatbuffers::FlatBufferBuilder b;
    auto formId = b.CreateString("parent_survey");
    auto name = b.CreateString("remark");
    auto text = fb::CreateTextValue(b, b.CreateString(kMarker));
    std::vector<flatbuffers::Offset<fb::Answer>> answers{
        fb::CreateAnswer(b, name, fb::Value::TextValue, text.Union())};
    auto answerVec = b.CreateVectorOfSortedTables(&answers);
    auto box = b.CreateVector(sealed->sealed->box);
    auto content = fb::CreateSealedContent(b, b.CreateString("k1"), box);
    const fb::Uuid id(flatbuffers::span<const std::uint8_t, 16>(r.id.bytes.data(), 16));
    const fb::Uuid device(flatbuffers::span<const std::uint8_t, 16>(r.deviceId.bytes.data(), 16));
    fb::RecordBuilder rb(b);
    rb.add_id(&id);
    rb.add_form_id(formId);
    rb.add_device_id(&device);
    rb.add_hlc(r.hlc.value);
    rb.add_created_hlc(r.createdHlc.value);
    rb.add_status(fb::RecordStatus::Finalized);
    rb.add_answers(answerVec);
    rb.add_sealed(content);
    fb::FinishRecordBuffer(b, rb.Finish());
    const std::span<const std::uint8_t> crafted(b.GetBufferPointer(), b.GetSize());
    auto checked = checkRecordBody(crafted);
    REQUIRE_FALSE(checked);
    CHECK(checked.error().code == ErrorCode::Corrupt);
    CHECK(checked.error().message.find("in clear") != std::string::npos);
}

TEST_CASE("a device store seals records of sealed and kiosk forms, and keeps no draft of them") {
    for (const std::string settings : {R"("sealed": true)", R"("kiosk": true)"}) {
        CAPTURE(settings);
        test::TempDir dir;
        ManualClock clock(1'764'000'000'000);
        const std::string path = dir.file("device.veld");
        auto opened = Store::open(path, {.mode = sql::OpenMode::ReadWriteCreate, .clock = &clock});
        REQUIRE(opened);
        Store store = std::move(opened.value());
        REQUIRE(store.installForm(sealedForm(settings)));
        const RecordContent content = minimalContent(kMarker);

        // No draft: the answers would reach the disk in clear.
        auto draft = store.saveDraft(content, kMarker);
        REQUIRE_FALSE(draft);
        CHECK(draft.error().code == ErrorCode::WrongState);
        CHECK(draft.error().message.find("sealed") != std::string::npos);

        // No project key yet: refused clearly, nothing written.
        auto early = store.finalizeNew(content, kMarker);
        REQUIRE_FALSE(early);
        CHECK(early.error().code == ErrorCode::WrongState);
        CHECK(early.error().message.find("project key") != std::string::npos);
        CHECK(store.outboxState()->lastSeq == 0);

        const Keys key = makeKey("pilot-2026");
        REQUIRE(store.setSetting(projectkey::kKeySetting,
                                 projectkey::formatPublicKey(key.locked.publicKey)));
        auto done = store.finalizeNew(content, kMarker);
        REQUIRE_MESSAGE(done, done.error().describe());
        CHECK(done->seq == 1);

        // The device keeps the metadata only: no summary, no answers.
        auto got = store.get(done->id);
        REQUIRE(got);
        CHECK(got->meta.summary.empty());
        CHECK(got->meta.formId == "valid_minimal");
        CHECK(got->meta.status == RecordStatus::Finalized);
        CHECK(got->record.content.answers.empty());
        REQUIRE(got->record.sealed);

        // What goes to the collector is sealed, and opens with the private key.
        auto pending = store.outboxPending(10, 1 << 20);
        REQUIRE(pending);
        REQUIRE(pending->size() == 1);
        CHECK_FALSE(contains(pending->at(0).body, kMarker));
        auto decoded = decodeRecord(pending->at(0).body);
        REQUIRE(decoded);
        auto inside = openRecord(decoded.value(), key.secret);
        REQUIRE_MESSAGE(inside, inside.error().describe());
        CHECK(inside->content == test::normalized(content));
        CHECK(inside->id == done->id);
        REQUIRE(store.check(false)->ok());

        // Nowhere in the store's files, as bytes or as UTF-16.
        std::u16string wide(kMarker.begin(), kMarker.end());
        const std::string utf16(reinterpret_cast<const char*>(wide.data()), wide.size() * 2);
        for (const std::string& file : {path, path + "-wal", path + "-journal"}) {
            const std::string bytes = fileText(file);
            CHECK(bytes.find(kMarker) == std::string::npos);
            CHECK(bytes.find(utf16) == std::string::npos);
        }
    }
}

TEST_CASE("a form that is neither sealed nor kiosk keeps drafts and clear answers") {
    test::TempDir dir;
    auto opened = Store::open(dir.file("d.veld"), {.mode = sql::OpenMode::ReadWriteCreate});
    REQUIRE(opened);
    Store store = std::move(opened.value());
    REQUIRE(store.installForm(sealedForm(R"("anonymous": true)")));
    const Keys key = makeKey("k1");
    REQUIRE(store.setSetting(projectkey::kKeySetting,
                             projectkey::formatPublicKey(key.locked.publicKey)));
    auto draft = store.saveDraft(minimalContent("open text"), "summary");
    REQUIRE(draft);
    auto done = store.finalize(draft.value(), minimalContent("open text"), "summary");
    REQUIRE(done);
    auto got = store.get(done->id);
    REQUIRE(got);
    CHECK_FALSE(got->record.sealed);
    CHECK(got->meta.summary == "summary");
    CHECK(got->record.content.answers.size() == 3);
}
