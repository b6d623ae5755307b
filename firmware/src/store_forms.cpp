// The device store's installed forms and settings.
#include <string>
#include <vector>

#include <veld/clock.hpp>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/store.hpp>

#include "store_internal.hpp"

namespace veld {

// ---- Forms ----------------------------------------------------------------------------------

namespace {

constexpr const char* kFormColumns = "form_id, version, pilot, binary, installed_utc_ms";

InstalledForm readForm(const sql::Statement& st) {
    InstalledForm f;
    f.formId = std::string(st.columnText(0));
    f.version = static_cast<std::uint32_t>(st.columnInt(1));
    f.pilot = std::string(st.columnText(2));
    auto blob = st.columnBlob(3);
    f.binary.assign(blob.begin(), blob.end());
    f.installedUtcMs = st.columnInt(4);
    return f;
}

std::string formName(std::string_view formId, std::uint32_t version) {
    return "form " + std::string(formId) + " version " + std::to_string(version);
}

}  // namespace

Status Store::installForm(std::span<const std::uint8_t> binary) {
    Impl& m = impl();
    if (Status s = m.requireWritable("installing a form"); !s) return s;
    // Devices load what is installed without asking again, so a form with errors never gets in.
    std::vector<veld::forms::FormProblem> errors;
    for (auto& p : veld::forms::checkFormBinary(binary, "form")) {
        if (p.severity == veld::forms::FormProblem::Severity::Error) errors.push_back(std::move(p));
    }
    if (!errors.empty()) {
        const auto& first = errors.front();
        std::string message = "the form cannot be installed: ";
        if (!first.item.empty()) message += "item '" + first.item + "': ";
        message += first.message;
        if (errors.size() > 1)
            message += " (and " + std::to_string(errors.size() - 1) + " more error(s))";
        return makeError(ErrorCode::InvalidArgument, std::move(message));
    }
    const fb::Form* form = fb::GetForm(binary.data());
    std::string_view formId = form->id()->string_view();
    std::uint32_t version = form->version();
    std::string_view pilot = form->pilot() ? form->pilot()->string_view() : std::string_view{};

    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    {
        auto st = m.db.prepare("SELECT binary FROM forms WHERE form_id = ?1 AND version = ?2");
        if (!st) return st.error();
        st->bind(1, formId).bind(2, static_cast<std::int64_t>(version));
        auto row = st->step();
        if (!row) return row.error();
        if (*row) {
            auto stored = st->columnBlob(0);
            if (forms::sameForm(stored, binary)) return {};
            return makeError(ErrorCode::WrongState,
                             formName(formId, version) +
                                 " is already installed with other content; a published version "
                                 "never changes, so give the changed form a new version");
        }
    }
    auto insert = m.db.prepare(
        "INSERT INTO forms (form_id, version, pilot, binary, installed_utc_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!insert) return insert.error();
    insert->bind(1, formId)
        .bind(2, static_cast<std::int64_t>(version))
        .bind(3, pilot)
        .bindBlobStatic(4, binary)
        .bind(5, m.clock->nowMillis());
    if (Status s = insert->run(); !s) return s;
    return tx->commit();
}

Result<std::vector<InstalledForm>> Store::forms() {
    auto st = impl().db.prepare(std::string("SELECT ") + kFormColumns +
                                " FROM forms f WHERE version = (SELECT max(version) FROM forms g "
                                "WHERE g.form_id = f.form_id) ORDER BY pilot, form_id");
    if (!st) return st.error();
    std::vector<InstalledForm> out;
    if (auto stepped = st->forEachRow([&] { out.push_back(readForm(*st)); }); !stepped)
        return stepped.error();
    return out;
}

Result<InstalledForm> Store::form(std::string_view formId, std::uint32_t version) {
    auto st = impl().db.prepare(std::string("SELECT ") + kFormColumns +
                                " FROM forms WHERE form_id = ?1 AND version = ?2");
    if (!st) return st.error();
    st->bind(1, formId).bind(2, static_cast<std::int64_t>(version));
    auto row = st->step();
    if (!row) return row.error();
    if (!*row)
        return makeError(ErrorCode::NotFound,
                         formName(formId, version) + " is not installed on this device");
    return readForm(*st);
}

// ---- Settings -------------------------------------------------------------------------------

namespace {

Status checkSettingKey(std::string_view key) {
    if (key.empty()) return makeError(ErrorCode::InvalidArgument, "a setting needs a name");
    return {};
}

}  // namespace

Result<std::optional<std::string>> Store::setting(std::string_view key) {
    if (Status s = checkSettingKey(key); !s) return s.error();
    return impl().settingText(key);
}

Status Store::setSetting(std::string_view key, std::string_view value) {
    Impl& m = impl();
    if (Status s = checkSettingKey(key); !s) return s;
    if (Status s = m.requireWritable("changing a setting"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto st = m.db.prepare(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!st) return st.error();
    st->bind(1, key).bind(2, value);
    if (Status s = st->run(); !s) return s;
    return tx->commit();
}

Status Store::clearSetting(std::string_view key) {
    Impl& m = impl();
    if (Status s = checkSettingKey(key); !s) return s;
    if (Status s = m.requireWritable("changing a setting"); !s) return s;
    if (Status s = m.setSync(false); !s) return s;
    auto tx = sql::Transaction::begin(m.db);
    if (!tx) return tx.error();
    auto st = m.db.prepare("DELETE FROM settings WHERE key = ?1");
    if (!st) return st.error();
    st->bind(1, key);
    if (Status s = st->run(); !s) return s;
    return tx->commit();
}

Result<std::optional<std::string>> Store::Impl::settingText(std::string_view key) {
    auto st = db.prepare("SELECT value FROM settings WHERE key = ?1");
    if (!st) return st.error();
    st->bind(1, key);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(std::string(st->columnText(0)));
}

}  // namespace veld
