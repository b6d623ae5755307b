// Publishing a form through the admin API, as the console does: only a staff member's valid
// credential may, the collector checks the form itself and refuses an invalid one or other
// content under a published version, and what it publishes reaches devices at their next sync.
#include <algorithm>
#include <string>

#include <doctest/doctest.h>

#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/sync/admin_api.hpp>
#include <veld/sync/admin_client.hpp>
#include <veld/sync/uploader.hpp>

#include "support/sync_support.hpp"

using namespace veld;

namespace {

sync::AdminClient console(const test::CollectorProcess& collector, const std::string& credential) {
    sync::Connection c;
    c.collector = collector.url();
    c.credential = credential;
    return sync::AdminClient(c);
}

std::vector<std::uint8_t> compiledPilot(const std::string& name) {
    auto check = forms::loadFormFile(std::string(VELD_SOURCE_DIR) + "/schemas/forms/" + name);
    REQUIRE(check.ok());
    return check.binary;
}

std::size_t publishedCount(const test::CollectorProcess& collector) {
    auto forms = collector.open()->publishedForms();
    REQUIRE(forms);
    return forms->size();
}

}  // namespace

TEST_CASE("staff publish a form through the admin API and a device receives it") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start();
    const std::string anna = test::addAdmin(collector, "anna");
    auto client = console(collector, anna);
    const auto form = compiledPilot("ips_guidance.json");

    auto published = client.publish(form);
    REQUIRE_MESSAGE(published, published.error().describe());
    CHECK(published->formId == "ips_guidance");
    CHECK(published->version == fb::GetForm(form.data())->version());
    CHECK(published->published);
    auto listed = client.forms();
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().binary == form);

    // The same bytes again change nothing.
    auto again = client.publish(form);
    REQUIRE(again);
    CHECK_FALSE(again->published);
    CHECK(publishedCount(collector) == 1);

    // The audit log says who published what.
    auto audit = collector.open()->audit();
    REQUIRE(audit);
    CHECK(std::any_of(audit->begin(), audit->end(), [](const sync::AuditEntry& e) {
        return e.action == "publish" && e.actor == "admin:anna" &&
               e.subject.find("ips_guidance") != std::string::npos;
    }));

    // A device enrolled afterwards fetches it.
    auto device = test::openDevice(dir.file("device.veld"));
    const auto connection = test::enrolDevice(device, collector);
    REQUIRE(sync::syncOnce(device, connection, {}));
    auto installed = device.forms();
    REQUIRE(installed);
    REQUIRE(installed->size() == 1);
    CHECK(installed->front().formId == "ips_guidance");
}

TEST_CASE("publishing refuses wrong credentials, invalid forms and a changed published version") {
    test::TempDir dir;
    test::CollectorProcess collector(test::testCollectorLocation(dir));
    collector.start({"--auth-failures", "0"});
    const std::string anna = test::addAdmin(collector, "anna");
    const std::string bram = test::addAdmin(collector, "bram");
    REQUIRE(test::veldctl({"collector", "admin-revoke", collector.storePath(), "bram"}).exitCode ==
            0);
    auto device = test::openDevice(dir.file("device.veld"));
    const auto deviceConnection = test::enrolDevice(device, collector);
    const auto form = compiledPilot("ips_guidance.json");

    std::string wrong = anna;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    for (const std::string& credential : {std::string(), wrong, bram, deviceConnection.credential,
                                          std::string("veld-admin.anna")}) {
        CAPTURE(credential.size());
        auto client = console(collector, credential);
        auto published = client.publish(form);
        REQUIRE_FALSE(published);
        CHECK(published.error().code == ErrorCode::Refused);
    }
    CHECK(publishedCount(collector) == 0);

    auto client = console(collector, anna);
    // A form that parses but fails Veld's checks (two items with one name): refused with the
    // problem named, nothing published.
    std::string json =
        test::readFile(std::string(VELD_SOURCE_DIR) + "/schemas/forms/ips_guidance.json");
    auto check = forms::compileFormJson(json, "ips_guidance.json");
    REQUIRE(check.ok());
    const std::string firstName = fb::GetForm(check.binary.data())->items()->Get(0)->name()->str();
    const std::string secondName = fb::GetForm(check.binary.data())->items()->Get(1)->name()->str();
    json.replace(json.find("\"" + secondName + "\""), secondName.size() + 2,
                 "\"" + firstName + "\"");
    auto invalid = forms::compileFormJson(json, "ips_guidance.json");
    REQUIRE_FALSE(invalid.binary.empty());
    REQUIRE_FALSE(invalid.ok());
    auto refused = client.publish(invalid.binary);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
    CHECK(refused.error().message.find(firstName) != std::string::npos);
    // Bytes that are not a form at all.
    refused = client.publish(std::vector<std::uint8_t>(200, 0x5a));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::InvalidArgument);
    CHECK(publishedCount(collector) == 0);

    // Published once; other content under the same id and version is refused (409).
    REQUIRE(client.publish(form));
    std::string changed =
        test::readFile(std::string(VELD_SOURCE_DIR) + "/schemas/forms/ips_guidance.json");
    const auto at = changed.find("\"text\": \"");
    REQUIRE(at != std::string::npos);
    changed.insert(at + 9, "Gewijzigd: ");
    auto other = forms::compileFormJson(changed, "ips_guidance.json");
    REQUIRE(other.ok());
    auto conflict = client.publish(other.binary);
    REQUIRE_FALSE(conflict);
    CHECK(conflict.error().code == ErrorCode::WrongState);
    CHECK(conflict.error().message.find("raise the version") != std::string::npos);
    auto listed = client.forms();
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().binary == form);  // the published version never changed
}
