// Record bodies as devices send them and the collector and console read them: the Verifier and
// Veld's checks (checkRecordBody, inspectRecord, decodeRecord must agree), encoding what was
// decoded (a body Veld accepts must be one it can write back, as the collector does when staff
// resolve a conflict), and sealed records opened with the fixed project key.
#include <veld/record.hpp>
#include <veld/sealed_record.hpp>

#include "fixtures.hpp"
#include "fuzz.hpp"

namespace veld::fuzz {

int record(const std::uint8_t* data, std::size_t size) {
    restartRandom(0);
    const std::span<const std::uint8_t> body(data, size);
    const Status checked = checkRecordBody(body);
    const auto header = inspectRecord(body);
    const auto decoded = decodeRecord(body);
    FUZZ_CHECK(checked.ok() == decoded.ok());
    FUZZ_CHECK(header.ok() == decoded.ok());
    if (!decoded) return 0;
    const Record& r = decoded.value();

    FUZZ_CHECK(header->id == r.id && header->deviceId == r.deviceId && header->hlc == r.hlc);
    FUZZ_CHECK(header->formId == r.content.formId && header->formVersion == r.content.formVersion);
    FUZZ_CHECK(header->caseId == r.content.caseId && header->finalized == r.finalized);
    FUZZ_CHECK(header->sealed == r.sealed.has_value());
    FUZZ_CHECK(header->caseChange == r.content.caseChange);
    FUZZ_CHECK(header->allocation == r.content.allocation);

    // What Veld accepts it can write again, and reads back the same.
    auto again = encodeRecord(r);
    FUZZ_CHECK(again.ok());
    auto redecoded = decodeRecord(again.value());
    FUZZ_CHECK(redecoded.ok());
    FUZZ_CHECK(redecoded.value() == r);

    const auto keys = projectSecretKeys();
    if (r.sealed) {
        // A changed box fails to open; one that opens must hold this very record.
        auto opened = openRecord(r, keys);
        if (opened) {
            FUZZ_CHECK(!opened->sealed);
            FUZZ_CHECK(opened->id == r.id && opened->hlc == r.hlc);
        }
        return 0;
    }
    // Sealing and opening gives the record back; a box moved to another revision is refused.
    auto sealed = sealRecord(r, projectPublicKey());
    FUZZ_CHECK(sealed.ok());
    auto opened = openRecord(sealed.value(), keys);
    FUZZ_CHECK(opened.ok());
    FUZZ_CHECK(opened.value() == r);
    Record moved = sealed.value();
    moved.hlc = HlcTimestamp{r.hlc.value + 1};
    FUZZ_CHECK(!openRecord(moved, keys).ok());
    return 0;
}

}  // namespace veld::fuzz
