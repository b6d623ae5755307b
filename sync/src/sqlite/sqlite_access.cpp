// The SQLite store's access domain: enrolment codes, enrolment, device and admin credentials,
// revocation, the audit log and the collector's identity (AccessStore).
#include "sqlite_access.hpp"

#include <mutex>

#include <sodium.h>

#include <veld/hex.hpp>
#include <veld/project_key.hpp>
#include <veld/sqlite.hpp>
#include <veld/sync/collector_store.hpp>

#include "../enrolment.hpp"
#include "../store_rules.hpp"
#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

namespace {

// The collector's enrolment key (enrolment.hpp), made at the first enrolment that needs it.
Result<std::vector<std::uint8_t>> enrolKeyLocked(SqliteContext& ctx);

}  // namespace

Result<std::string> SqliteAccess::createEnrolCode(const std::string& label, std::int64_t nowMs,
                                                  const std::string& actor,
                                                  std::int64_t validForMs) {
    if (validForMs < 0 || validForMs > m_ctx.policy.enrolCodeTtlMs) {
        return makeError(ErrorCode::InvalidArgument,
                         "an enrolment code is valid for at most " +
                             std::to_string(m_ctx.policy.enrolCodeTtlMs / (24 * 3600 * 1000)) +
                             " days");
    }
    const std::int64_t validFor = validForMs ? validForMs : m_ctx.policy.enrolCodeTtlMs;
    const std::string code = detail::newEnrolCode();
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "INSERT INTO enrol_codes (code_hash, label, "
        "created_utc_ms, expires_utc_ms) "
        "VALUES (?, ?, ?, ?)");
    if (!st) return st.error();
    const auto hash = rules::enrolCodeDigest(code);
    st->bindBlob(1, hash).bind(2, label).bind(3, nowMs).bind(4, nowMs + validFor);
    if (auto s = st->run(); !s) return s.error();
    if (auto s = auditLocked(m_ctx, nowMs, actor, "enrol-code", label, {}); !s) return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return code;
}

Result<std::string> SqliteAccess::createReenrolCode(const Uuid& deviceId, std::int64_t nowMs,
                                                    const std::string& actor) {
    std::string code = detail::newEnrolCode();
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto dev = m_ctx.db.prepare("SELECT label, revoked_utc_ms FROM devices WHERE device_id = ?");
    if (!dev) return dev.error();
    dev->bindBlob(1, idBytes(deviceId));
    auto row = dev->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "no device with that id");
    if (!dev->columnIsNull(1)) {
        return makeError(ErrorCode::WrongState,
                         "this device has been revoked; a revoked device stays revoked");
    }
    const std::string label(dev->columnText(0));
    dev->reset();
    auto st = m_ctx.db.prepare(
        "INSERT INTO enrol_codes (code_hash, label, "
        "created_utc_ms, expires_utc_ms, "
        "for_device) VALUES (?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bindBlob(1, rules::enrolCodeDigest(code))
        .bind(2, label)
        .bind(3, nowMs)
        .bind(4, nowMs + m_ctx.policy.enrolCodeTtlMs)
        .bindBlob(5, idBytes(deviceId));
    if (auto s = st->run(); !s) return s.error();
    if (auto s = auditLocked(m_ctx, nowMs, actor, "reenrol-code", deviceId.toString(), label); !s)
        return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return code;
}

// The rules are detail::decideEnrolment's (enrolment.hpp); here they meet the tables.
Result<EnrolReply> SqliteAccess::enrol(const EnrolRequest& request, std::int64_t nowMs) {
    const auto hash = rules::enrolCodeDigest(request.code);
    // Unknown codes are refused on the reading connection: guessing never waits for, or
    // holds up, the writer that pushes use.
    {
        std::lock_guard lock(m_ctx.readMutex);
        auto known = m_ctx.reader.prepare("SELECT 1 FROM enrol_codes WHERE code_hash = ?");
        if (!known) return known.error();
        known->bindBlob(1, hash);
        auto row = known->step();
        if (!row) return row.error();
        if (!row.value()) return makeError(ErrorCode::NotFound, "unknown enrolment code");
    }
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "SELECT label, expires_utc_ms, used_utc_ms, "
        "used_by, for_device FROM enrol_codes "
        "WHERE code_hash = ?");
    if (!st) return st.error();
    st->bindBlob(1, hash);
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "unknown enrolment code");
    detail::EnrolCodeState code;
    code.label = std::string(st->columnText(0));
    code.expiresUtcMs = st->columnInt(1);
    if (!st->columnIsNull(2)) code.usedBy = idFrom(st->columnBlob(3));
    if (!st->columnIsNull(4)) code.forDevice = idFrom(st->columnBlob(4));
    st->reset();

    std::optional<detail::KnownDevice> device;
    auto dev = m_ctx.db.prepare(
        "SELECT credential_hash, public_key, revoked_utc_ms, "
        "last_contact_utc_ms, "
        "enrolled_utc_ms FROM devices WHERE device_id = ?");
    if (!dev) return dev.error();
    dev->bindBlob(1, idBytes(request.deviceId));
    auto existing = dev->step();
    if (!existing) return existing.error();
    if (existing.value()) {
        detail::KnownDevice k;
        const auto h = dev->columnBlob(0);
        k.credentialHash.assign(h.begin(), h.end());
        const auto pk = dev->columnBlob(1);
        k.publicKey.assign(pk.begin(), pk.end());
        k.revoked = !dev->columnIsNull(2);
        k.usedCredential = !dev->columnIsNull(3) && dev->columnInt(3) >= dev->columnInt(4);
        device = std::move(k);
    }
    dev->reset();

    auto key = enrolKeyLocked(m_ctx);
    if (!key) return key.error();
    auto secret = detail::enrolSecret(key.value(), detail::normalizeEnrolCode(request.code),
                                      request.deviceId, request.devicePublicKey);
    sodium_memzero(key->data(), key->size());
    const std::string secretHex = toHex(secret);
    sodium_memzero(secret.data(), secret.size());
    const auto credentialHash = rules::secretDigest(secretHex);
    auto action = detail::decideEnrolment(request, code, device, credentialHash, nowMs);
    if (!action) return action.error();

    if (action.value() != detail::EnrolAction::Repeat) {
        auto up = m_ctx.db.prepare(
            "INSERT INTO devices (device_id, label, credential_hash, public_key, "
            "enrolled_utc_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id) "
            "DO UPDATE "
            "SET credential_hash = ?3, public_key = ?4, label = ?2, "
            "enrolled_utc_ms = ?5");
        if (!up) return up.error();
        up->bindBlob(1, idBytes(request.deviceId)).bind(2, code.label).bindBlob(3, credentialHash);
        if (request.devicePublicKey.empty()) {
            up->bindNull(4);
        } else {
            up->bindBlob(4, request.devicePublicKey);
        }
        up->bind(5, nowMs);
        if (auto s = up->run(); !s) return s.error();
        auto mark = m_ctx.db.prepare(
            "UPDATE enrol_codes SET used_utc_ms = ?, "
            "used_by = ? WHERE code_hash = ?");
        if (!mark) return mark.error();
        mark->bind(1, nowMs).bindBlob(2, idBytes(request.deviceId)).bindBlob(3, hash);
        if (auto s = mark->run(); !s) return s.error();
    }
    const auto audited = detail::enrolAudit(action.value(), code.label);
    if (auto s = auditLocked(m_ctx, nowMs, "device", audited.action, request.deviceId.toString(),
                             audited.detail);
        !s)
        return s.error();
    EnrolReply reply;
    reply.credential = request.deviceId.toString() + "." + secretHex;
    auto id = metaText(m_ctx, "collector_id");
    if (!id) return id.error();
    reply.collectorId = id.value();
    auto pseudonymKey = metaText(m_ctx, "pseudonym_key");
    if (!pseudonymKey) return pseudonymKey.error();
    reply.pseudonymKey = pseudonymKey.value();
    auto project = metaText(m_ctx, "project_key");
    if (!project) return project.error();
    reply.projectKey = project.value();
    if (auto s = tx->commit(); !s) return s.error();
    return reply;
}

Result<Uuid> SqliteAccess::authenticate(std::string_view credential) {
    auto presented = rules::parseDeviceCredential(credential);
    if (!presented) return presented.error();
    const Uuid& id = presented->deviceId;
    // The reading connection: a revocation committed by anyone (veldctl included) is seen
    // by the next request, and the check never waits behind a push's commit.
    std::lock_guard lock(m_ctx.readMutex);
    sql::Statement& st = m_ctx.credential;
    Resetting done{st};
    st.bindBlob(1, idBytes(id));
    auto row = st.step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "unknown device");
    if (!rules::sameDigest(st.columnBlob(0), presented->digest))
        return makeError(ErrorCode::NotFound, "wrong credential");
    if (!st.columnIsNull(1)) return makeError(ErrorCode::WrongState, "device revoked");
    return id;
}

Status SqliteAccess::revoke(const Uuid& deviceId, std::int64_t nowMs, const std::string& actor) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "UPDATE devices SET revoked_utc_ms = ? WHERE "
        "device_id = ? AND revoked_utc_ms IS NULL");
    if (!st) return st.error();
    st->bind(1, nowMs).bindBlob(2, idBytes(deviceId));
    if (auto s = st->run(); !s) return s;
    if (m_ctx.db.changes() == 0) {
        return makeError(ErrorCode::NotFound, "no enrolled, unrevoked device with that id");
    }
    if (auto s = auditLocked(m_ctx, nowMs, actor, "revoke", deviceId.toString(), {}); !s) return s;
    return tx->commit();
}

Result<std::string> SqliteAccess::addAdmin(const std::string& name, std::int64_t nowMs,
                                           const std::string& actor) {
    if (!rules::validAdminName(name)) {
        return makeError(ErrorCode::InvalidArgument,
                         "an admin name is 1 to 64 letters, digits, '.', '-' or '_'");
    }
    std::array<std::uint8_t, 32> secret{};
    randombytes_buf(secret.data(), secret.size());
    const std::string credential = rules::adminCredential(name, toHex(secret));
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "INSERT INTO admins (name, credential_hash, created_utc_ms) VALUES (?, "
        "?, ?) "
        "ON CONFLICT (name) DO UPDATE SET credential_hash = "
        "excluded.credential_hash, "
        "created_utc_ms = excluded.created_utc_ms, revoked_utc_ms = NULL");
    if (!st) return st.error();
    st->bind(1, name).bindBlob(2, rules::secretDigest(toHex(secret))).bind(3, nowMs);
    if (auto s = st->run(); !s) return s.error();
    if (auto s = auditLocked(m_ctx, nowMs, actor, "admin-add", name, {}); !s) return s.error();
    if (auto s = tx->commit(); !s) return s.error();
    return credential;
}

Status SqliteAccess::revokeAdmin(const std::string& name, std::int64_t nowMs,
                                 const std::string& actor) {
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "UPDATE admins SET revoked_utc_ms = ? WHERE name "
        "= ? AND revoked_utc_ms IS NULL");
    if (!st) return st.error();
    st->bind(1, nowMs).bind(2, name);
    if (auto s = st->run(); !s) return s;
    if (m_ctx.db.changes() == 0) return makeError(ErrorCode::NotFound, "no such active admin");
    if (auto s = auditLocked(m_ctx, nowMs, actor, "admin-revoke", name, {}); !s) return s;
    return tx->commit();
}

Result<std::string> SqliteAccess::authenticateAdmin(std::string_view credential) {
    auto presented = rules::parseAdminCredential(credential);
    if (!presented) return presented.error();
    const std::string& name = presented->name;
    std::lock_guard lock(m_ctx.readMutex);
    auto st =
        m_ctx.reader.prepare("SELECT credential_hash, revoked_utc_ms FROM admins WHERE name = ?");
    if (!st) return st.error();
    st->bind(1, name);
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return makeError(ErrorCode::NotFound, "unknown admin");
    if (!rules::sameDigest(st->columnBlob(0), presented->digest))
        return makeError(ErrorCode::NotFound, "wrong admin credential");
    if (!st->columnIsNull(1)) return makeError(ErrorCode::WrongState, "admin revoked");
    return name;
}

Result<std::vector<AdminInfo>> SqliteAccess::admins() {
    std::lock_guard lock(m_ctx.mutex);
    auto st =
        m_ctx.db.prepare("SELECT name, created_utc_ms, revoked_utc_ms FROM admins ORDER BY name");
    if (!st) return st.error();
    std::vector<AdminInfo> out;
    if (auto stepped = st->forEachRow([&] {
            AdminInfo a;
            a.name = std::string(st->columnText(0));
            a.createdUtcMs = st->columnInt(1);
            if (!st->columnIsNull(2)) a.revokedUtcMs = st->columnInt(2);
            out.push_back(std::move(a));
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<std::vector<DeviceInfo>> SqliteAccess::devices() {
    std::lock_guard lock(m_ctx.mutex);
    auto staff = metaText(m_ctx, "staff_device");
    if (!staff) return staff.error();
    const auto staffId = Uuid::parse(staff.value());
    auto st = m_ctx.db.prepare(
        "SELECT d.device_id, d.label, d.enrolled_utc_ms, d.revoked_utc_ms, "
        "d.received_through, "
        "d.last_contact_utc_ms, (SELECT count(*) FROM revisions r WHERE "
        "r.device_id = "
        "d.device_id), d.waiting, d.team, d.box_key IS NOT NULL FROM devices d "
        "ORDER BY d.enrolled_utc_ms");
    if (!st) return st.error();
    std::vector<DeviceInfo> out;
    if (auto stepped = st->forEachRow([&] {
            DeviceInfo d;
            d.deviceId = idFrom(st->columnBlob(0));
            d.label = std::string(st->columnText(1));
            d.enrolledUtcMs = st->columnInt(2);
            if (!st->columnIsNull(3)) d.revokedUtcMs = st->columnInt(3);
            d.receivedThrough = static_cast<std::uint64_t>(st->columnInt(4));
            if (!st->columnIsNull(5)) d.lastContactUtcMs = st->columnInt(5);
            d.revisions = st->columnInt(6);
            if (!st->columnIsNull(7)) d.waiting = st->columnInt(7);
            d.team = std::string(st->columnText(8));
            d.hasBoxKey = st->columnInt(9) != 0;
            d.staff = staffId && d.deviceId == *staffId;
            out.push_back(std::move(d));
        });
        !stepped)
        return stepped.error();
    auto marks = m_ctx.db.prepare(rules::kBundleMarksSql);
    if (!marks) return marks.error();
    std::vector<std::pair<std::string, std::string>> found;
    if (auto stepped = marks->forEachRow([&] {
            found.emplace_back(std::string(marks->columnText(0)),
                               std::string(marks->columnText(1)));
        });
        !stepped)
        return stepped.error();
    rules::applyBundleMarks(out, found);
    return out;
}

Result<std::vector<AuditEntry>> SqliteAccess::audit() {
    std::lock_guard lock(m_ctx.mutex);
    auto st =
        m_ctx.db.prepare("SELECT utc_ms, actor, action, subject, detail FROM audit ORDER BY aid");
    if (!st) return st.error();
    std::vector<AuditEntry> out;
    if (auto stepped = st->forEachRow([&] {
            out.push_back({st->columnInt(0), std::string(st->columnText(1)),
                           std::string(st->columnText(2)), std::string(st->columnText(3)),
                           std::string(st->columnText(4))});
        });
        !stepped)
        return stepped.error();
    return out;
}

Result<std::string> SqliteAccess::collectorId() {
    std::lock_guard lock(m_ctx.mutex);
    return metaText(m_ctx, "collector_id");
}

Result<std::int64_t> SqliteAccess::health() {
    std::lock_guard lock(m_ctx.readMutex);
    auto meta = m_ctx.reader.queryInt("SELECT count(*) FROM meta");
    if (!meta) return meta.error();
    return m_ctx.reader.queryInt("PRAGMA user_version");
}

Status SqliteAccess::appendAudit(const AuditEntry& entry) {
    std::lock_guard lock(m_ctx.mutex);
    return auditLocked(m_ctx, entry.utcMs, entry.actor, entry.action, entry.subject, entry.detail);
}

Result<std::string> SqliteAccess::projectKey() {
    std::lock_guard lock(m_ctx.mutex);
    return metaText(m_ctx, "project_key");
}

Status SqliteAccess::setProjectKey(const std::string& key, std::int64_t nowMs,
                                   const std::string& actor) {
    auto parsed = projectkey::parsePublicKey(key);
    if (!parsed) return parsed.error();
    std::lock_guard lock(m_ctx.mutex);
    auto tx = sql::Transaction::begin(m_ctx.db);
    if (!tx) return tx.error();
    auto st = m_ctx.db.prepare(
        "INSERT INTO meta (key, value) VALUES "
        "('project_key', ?) ON CONFLICT (key) DO UPDATE "
        "SET value = excluded.value");
    if (!st) return st.error();
    st->bind(1, key);
    if (auto s = st->run(); !s) return s;
    if (auto s = auditLocked(m_ctx, nowMs, actor, "project-key", parsed->id, key); !s) return s;
    return tx->commit();
}

namespace {

Result<std::vector<std::uint8_t>> enrolKeyLocked(SqliteContext& ctx) {
    auto keyHex = metaText(ctx, "enrol_key");
    if (!keyHex) return keyHex.error();
    std::vector<std::uint8_t> key;
    if (!keyHex->empty()) {
        auto parsed = fromHex(keyHex.value());
        if (parsed) key = std::move(parsed.value());
    }
    if (key.size() == crypto_generichash_KEYBYTES) return key;
    key.assign(crypto_generichash_KEYBYTES, 0);
    randombytes_buf(key.data(), key.size());
    auto put = ctx.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    if (!put) return put.error();
    put->bind(1, std::string_view("enrol_key")).bind(2, toHex(key));
    if (auto s = put->run(); !s) return s.error();
    return key;
}

}  // namespace

}  // namespace veld::sync::sqlite
