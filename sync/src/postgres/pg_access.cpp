// The PostgreSQL backend's access domain (pg_access.hpp). The rules of enrolment
// (enrolment.hpp) and of credentials (store_rules.hpp) are shared with the SQLite store; here they
// meet the tables, in transactions that stay right when several collector processes run them at
// once: an enrolment code's row is locked while it is used, so a code enrols once whichever process
// is asked.
#include "pg_access.hpp"

#include <array>

#include <sodium.h>

#include <veld/hex.hpp>
#include <veld/project_key.hpp>

#include "../enrolment.hpp"
#include "../store_rules.hpp"

namespace veld::sync::postgres {

namespace {

std::vector<std::uint8_t> copy(std::span<const std::uint8_t> bytes) {
    return {bytes.begin(), bytes.end()};
}

// The collector's enrolment key (enrolment.hpp), made by the first enrolment that needs it; when
// two processes make one at once, the first stored wins and both use it.
Result<std::vector<std::uint8_t>> enrolKey(pg::Connection& c) {
    auto keyHex = metaText(c, "enrol_key");
    if (!keyHex) return keyHex.error();
    if (!keyHex->empty()) {
        auto parsed = fromHex(keyHex.value());
        if (parsed && parsed->size() == crypto_generichash_KEYBYTES) return std::move(*parsed);
    }
    std::vector<std::uint8_t> key(crypto_generichash_KEYBYTES);
    randombytes_buf(key.data(), key.size());
    auto stored = c.query(
        "INSERT INTO meta (key, value) VALUES ('enrol_key', $1) ON CONFLICT (key) DO UPDATE SET "
        "value = CASE WHEN length(meta.value) = $2 THEN meta.value ELSE excluded.value END "
        "RETURNING value",
        pg::Params().add(toHex(key)).add(std::int64_t{2 * crypto_generichash_KEYBYTES}),
        "making the enrolment key");
    sodium_memzero(key.data(), key.size());
    if (!stored) return stored.error();
    auto parsed = fromHex(stored->text(0, 0));
    if (!parsed || parsed->size() != crypto_generichash_KEYBYTES)
        return makeError(ErrorCode::Corrupt, "the collector's enrolment key is damaged");
    return std::move(*parsed);
}

}  // namespace

Result<std::string> PgAccess::createEnrolCode(const std::string& label, std::int64_t nowMs,
                                              const std::string& actor, std::int64_t validForMs) {
    const std::int64_t ttl = m_ctx.policy.enrolCodeTtlMs;
    if (validForMs < 0 || validForMs > ttl) {
        return makeError(ErrorCode::InvalidArgument, "an enrolment code is valid for at most " +
                                                         std::to_string(ttl / (24 * 3600 * 1000)) +
                                                         " days");
    }
    const std::int64_t validFor = validForMs ? validForMs : ttl;
    const std::string code = detail::newEnrolCode();
    const auto hash = rules::enrolCodeDigest(code);
    auto done = pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) {
        if (auto s =
                c.run("INSERT INTO enrol_codes (code_hash, label, created_utc_ms, expires_utc_ms) "
                      "VALUES ($1, $2, $3, $4)",
                      pg::Params().addBytes(hash).add(label).add(nowMs).add(nowMs + validFor),
                      "storing an enrolment code");
            !s)
            return s;
        return postgres::audit(c, nowMs, actor, "enrol-code", label, {});
    });
    if (!done) return done.error();
    return code;
}

Result<std::string> PgAccess::createReenrolCode(const Uuid& deviceId, std::int64_t nowMs,
                                                const std::string& actor) {
    const std::string code = detail::newEnrolCode();
    const auto hash = rules::enrolCodeDigest(code);
    auto done =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            auto dev =
                c.query("SELECT label, revoked_utc_ms FROM devices WHERE device_id = $1 FOR SHARE",
                        pg::Params().add(deviceId), "reading the device");
            if (!dev) return dev.error();
            if (dev->empty()) return makeError(ErrorCode::NotFound, "no device with that id");
            if (!dev->isNull(0, 1))
                return makeError(ErrorCode::WrongState,
                                 "this device has been revoked; a revoked device stays revoked");
            const std::string label(dev->text(0, 0));
            if (auto s = c.run("INSERT INTO enrol_codes (code_hash, label, created_utc_ms, "
                               "expires_utc_ms, for_device) VALUES ($1, $2, $3, $4, $5)",
                               pg::Params()
                                   .addBytes(hash)
                                   .add(label)
                                   .add(nowMs)
                                   .add(nowMs + m_ctx.policy.enrolCodeTtlMs)
                                   .add(deviceId),
                               "storing a re-enrolment code");
                !s)
                return s;
            return postgres::audit(c, nowMs, actor, "reenrol-code", deviceId.toString(), label);
        });
    if (!done) return done.error();
    return code;
}

Result<EnrolReply> PgAccess::enrol(const EnrolRequest& request, std::int64_t nowMs) {
    const std::string normalized = detail::normalizeEnrolCode(request.code);
    const auto hash = rules::enrolCodeDigest(request.code);
    EnrolReply reply;
    auto done =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            // The code's row stays locked until this enrolment commits: another process using the
            // same code waits here and then sees it used.
            auto st = c.query(
                "SELECT label, expires_utc_ms, used_utc_ms, used_by, for_device FROM enrol_codes "
                "WHERE code_hash = $1 FOR UPDATE",
                pg::Params().addBytes(hash), "reading the enrolment code");
            if (!st) return st.error();
            if (st->empty()) return makeError(ErrorCode::NotFound, "unknown enrolment code");
            detail::EnrolCodeState code;
            code.label = std::string(st->text(0, 0));
            code.expiresUtcMs = st->integer(0, 1);
            if (!st->isNull(0, 2)) code.usedBy = st->uuid(0, 3);
            if (!st->isNull(0, 4)) code.forDevice = st->uuid(0, 4);

            std::optional<detail::KnownDevice> device;
            auto dev = c.query(
                "SELECT credential_hash, public_key, revoked_utc_ms, last_contact_utc_ms, "
                "enrolled_utc_ms FROM devices WHERE device_id = $1 FOR UPDATE",
                pg::Params().add(request.deviceId), "reading the device");
            if (!dev) return dev.error();
            if (!dev->empty()) {
                detail::KnownDevice k;
                k.credentialHash = copy(dev->bytes(0, 0));
                k.publicKey = copy(dev->bytes(0, 1));
                k.revoked = !dev->isNull(0, 2);
                k.usedCredential = !dev->isNull(0, 3) && dev->integer(0, 3) >= dev->integer(0, 4);
                device = std::move(k);
            }

            auto key = enrolKey(c);
            if (!key) return key.error();
            auto secret = detail::enrolSecret(key.value(), normalized, request.deviceId,
                                              request.devicePublicKey);
            sodium_memzero(key->data(), key->size());
            const std::string secretHex = toHex(secret);
            sodium_memzero(secret.data(), secret.size());
            const auto credentialHash = rules::secretDigest(secretHex);
            auto action = detail::decideEnrolment(request, code, device, credentialHash, nowMs);
            if (!action) return action.error();

            if (action.value() != detail::EnrolAction::Repeat) {
                pg::Params p;
                p.add(request.deviceId).add(code.label).addBytes(credentialHash);
                if (request.devicePublicKey.empty()) {
                    p.addNull();
                } else {
                    p.addBytes(request.devicePublicKey);
                }
                p.add(nowMs);
                if (!device) {
                    // A new device id: if another process enrolled the same id a moment ago (with
                    // another code), this one is refused rather than rebinding it without proof.
                    auto added = c.query(
                        "INSERT INTO devices (device_id, label, credential_hash, public_key, "
                        "enrolled_utc_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO "
                        "NOTHING",
                        p, "storing the device");
                    if (!added) return added.error();
                    if (added->affected() != 1)
                        return makeError(ErrorCode::WrongState,
                                         "this device id was enrolled a moment ago; enrol again "
                                         "with its credential");
                } else {
                    if (auto s = c.run("UPDATE devices SET label = $2, credential_hash = $3, "
                                       "public_key = $4, enrolled_utc_ms = $5 WHERE device_id = $1",
                                       p, "storing the device");
                        !s)
                        return s;
                }
                auto used = c.query(
                    "UPDATE enrol_codes SET used_utc_ms = $1, used_by = $2 WHERE code_hash = $3 "
                    "AND "
                    "used_utc_ms IS NULL",
                    pg::Params().add(nowMs).add(request.deviceId).addBytes(hash),
                    "using the enrolment code");
                if (!used) return used.error();
                if (used->affected() != 1)
                    return makeError(ErrorCode::WrongState, "this enrolment code has been used");
            }
            const auto audited = detail::enrolAudit(action.value(), code.label);
            if (auto s = postgres::audit(c, nowMs, "device", audited.action,
                                         request.deviceId.toString(), audited.detail);
                !s)
                return s;
            reply = EnrolReply{};
            reply.credential = request.deviceId.toString() + "." + secretHex;
            for (auto [metaKey, field] : {std::pair{"collector_id", &reply.collectorId},
                                          std::pair{"pseudonym_key", &reply.pseudonymKey},
                                          std::pair{"project_key", &reply.projectKey}}) {
                auto value = metaText(c, metaKey);
                if (!value) return value.error();
                *field = std::move(value.value());
            }
            return {};
        });
    if (!done) return done.error();
    return reply;
}

Result<Uuid> PgAccess::authenticate(std::string_view credential) {
    const auto presented = rules::parseDeviceCredential(credential);
    if (!presented) return presented.error();
    Result<Uuid> out = makeError(ErrorCode::NotFound, "unknown device");
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto rows =
            c.query("SELECT credential_hash, revoked_utc_ms FROM devices WHERE device_id = $1",
                    pg::Params().add(presented->deviceId), "checking a device credential");
        if (!rows) return rows.error();
        if (rows->empty()) {
            out = makeError(ErrorCode::NotFound, "unknown device");
        } else if (!rules::sameDigest(rows->bytes(0, 0), presented->digest)) {
            out = makeError(ErrorCode::NotFound, "wrong credential");
        } else if (!rows->isNull(0, 1)) {
            out = makeError(ErrorCode::WrongState, "device revoked");
        } else {
            out = presented->deviceId;
        }
        return {};
    });
    if (!done) return done.error();
    return out;
}

Status PgAccess::revoke(const Uuid& deviceId, std::int64_t nowMs, const std::string& actor) {
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        auto changed = c.query(
            "UPDATE devices SET revoked_utc_ms = $1 WHERE device_id = $2 AND revoked_utc_ms IS "
            "NULL",
            pg::Params().add(nowMs).add(deviceId), "revoking the device");
        if (!changed) return changed.error();
        if (changed->affected() == 0)
            return makeError(ErrorCode::NotFound, "no enrolled, unrevoked device with that id");
        return postgres::audit(c, nowMs, actor, "revoke", deviceId.toString(), {});
    });
}

Result<std::vector<DeviceInfo>> PgAccess::devices() {
    std::vector<DeviceInfo> out;
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto rows = c.query(
            "SELECT d.device_id, d.label, d.enrolled_utc_ms, d.revoked_utc_ms, "
            "d.received_through, d.last_contact_utc_ms, (SELECT count(*) FROM revisions r WHERE "
            "r.device_id = d.device_id), d.waiting, d.team, d.box_key IS NOT NULL, "
            "d.device_id IN (SELECT decode(replace(value, '-', ''), 'hex') FROM meta WHERE key = "
            "'staff_device') "
            "FROM devices d ORDER BY d.enrolled_utc_ms, d.device_id",
            {}, "listing devices");
        if (!rows) return rows.error();
        out.clear();
        for (int i = 0; i < rows->size(); ++i) {
            DeviceInfo d;
            d.deviceId = rows->uuid(i, 0);
            d.label = std::string(rows->text(i, 1));
            d.enrolledUtcMs = rows->integer(i, 2);
            d.revokedUtcMs = rows->optionalInteger(i, 3);
            d.receivedThrough = static_cast<std::uint64_t>(rows->integer(i, 4));
            d.lastContactUtcMs = rows->optionalInteger(i, 5);
            d.revisions = rows->integer(i, 6);
            d.waiting = rows->optionalInteger(i, 7);
            d.team = std::string(rows->text(i, 8));
            d.hasBoxKey = rows->boolean(i, 9);
            d.staff = rows->boolean(i, 10);
            out.push_back(std::move(d));
        }
        auto marks = c.query(rules::kBundleMarksSql, {}, "reading the devices' bundle marks");
        if (!marks) return marks.error();
        std::vector<std::pair<std::string, std::string>> found;
        for (int i = 0; i < marks->size(); ++i)
            found.emplace_back(std::string(marks->text(i, 0)), std::string(marks->text(i, 1)));
        rules::applyBundleMarks(out, found);
        return {};
    });
    if (!done) return done.error();
    return out;
}

Result<std::string> PgAccess::addAdmin(const std::string& name, std::int64_t nowMs,
                                       const std::string& actor) {
    if (!rules::validAdminName(name)) {
        return makeError(ErrorCode::InvalidArgument,
                         "an admin name is 1 to 64 letters, digits, '.', '-' or '_'");
    }
    std::array<std::uint8_t, 32> secret{};
    randombytes_buf(secret.data(), secret.size());
    const std::string secretHex = toHex(secret);
    sodium_memzero(secret.data(), secret.size());
    const std::string credential = rules::adminCredential(name, secretHex);
    const auto digest = rules::secretDigest(secretHex);
    auto done =
        pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
            if (auto s = c.run(
                    "INSERT INTO admins (name, credential_hash, created_utc_ms) VALUES ($1, $2, "
                    "$3) "
                    "ON CONFLICT (name) DO UPDATE SET credential_hash = excluded.credential_hash, "
                    "created_utc_ms = excluded.created_utc_ms, revoked_utc_ms = NULL",
                    pg::Params().add(name).addBytes(digest).add(nowMs), "storing the admin");
                !s)
                return s;
            return postgres::audit(c, nowMs, actor, "admin-add", name, {});
        });
    if (!done) return done.error();
    return credential;
}

Status PgAccess::revokeAdmin(const std::string& name, std::int64_t nowMs,
                             const std::string& actor) {
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        auto changed = c.query(
            "UPDATE admins SET revoked_utc_ms = $1 WHERE name = $2 AND revoked_utc_ms IS NULL",
            pg::Params().add(nowMs).add(name), "revoking the admin");
        if (!changed) return changed.error();
        if (changed->affected() == 0) return makeError(ErrorCode::NotFound, "no such active admin");
        return postgres::audit(c, nowMs, actor, "admin-revoke", name, {});
    });
}

Result<std::string> PgAccess::authenticateAdmin(std::string_view credential) {
    const auto presented = rules::parseAdminCredential(credential);
    if (!presented) return presented.error();
    Result<std::string> out = makeError(ErrorCode::NotFound, "unknown admin");
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto rows = c.query("SELECT credential_hash, revoked_utc_ms FROM admins WHERE name = $1",
                            pg::Params().add(presented->name), "checking an admin credential");
        if (!rows) return rows.error();
        if (rows->empty()) {
            out = makeError(ErrorCode::NotFound, "unknown admin");
        } else if (!rules::sameDigest(rows->bytes(0, 0), presented->digest)) {
            out = makeError(ErrorCode::NotFound, "wrong admin credential");
        } else if (!rows->isNull(0, 1)) {
            out = makeError(ErrorCode::WrongState, "admin revoked");
        } else {
            out = presented->name;
        }
        return {};
    });
    if (!done) return done.error();
    return out;
}

Result<std::vector<AdminInfo>> PgAccess::admins() {
    std::vector<AdminInfo> out;
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto rows = c.query("SELECT name, created_utc_ms, revoked_utc_ms FROM admins ORDER BY name",
                            {}, "listing admins");
        if (!rows) return rows.error();
        out.clear();
        for (int i = 0; i < rows->size(); ++i)
            out.push_back(
                {std::string(rows->text(i, 0)), rows->integer(i, 1), rows->optionalInteger(i, 2)});
        return {};
    });
    if (!done) return done.error();
    return out;
}

Result<std::vector<AuditEntry>> PgAccess::audit() {
    std::vector<AuditEntry> out;
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        out.clear();
        return c.stream(
            "SELECT utc_ms, actor, action, subject, detail FROM audit ORDER BY aid", {},
            [&](const pg::Rows& row) -> Status {
                out.push_back({row.integer(0, 0), std::string(row.text(0, 1)),
                               std::string(row.text(0, 2)), std::string(row.text(0, 3)),
                               std::string(row.text(0, 4))});
                return {};
            },
            "reading the audit log");
    });
    if (!done) return done.error();
    return out;
}

Status PgAccess::appendAudit(const AuditEntry& entry) {
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) {
        return postgres::audit(c, entry.utcMs, entry.actor, entry.action, entry.subject,
                               entry.detail);
    });
}

Result<std::string> PgAccess::collectorId() {
    std::string out;
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto id = metaText(c, "collector_id");
        if (!id) return id.error();
        out = std::move(id.value());
        return {};
    });
    if (!done) return done.error();
    return out;
}

Result<std::int64_t> PgAccess::health() {
    std::int64_t version = 0;
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto rows = c.query("SELECT version FROM schema_version", {}, "checking the database");
        if (!rows) return rows.error();
        if (rows->empty()) return makeError(ErrorCode::NotAStore, "the schema version is missing");
        version = rows->integer(0, 0);
        return {};
    });
    if (!done) return done.error();
    return version;
}

Result<std::string> PgAccess::projectKey() {
    std::string out;
    auto done = withConnection(m_ctx, [&](pg::Connection& c) -> Status {
        auto key = metaText(c, "project_key");
        if (!key) return key.error();
        out = std::move(key.value());
        return {};
    });
    if (!done) return done.error();
    return out;
}

Status PgAccess::setProjectKey(const std::string& key, std::int64_t nowMs,
                               const std::string& actor) {
    auto parsed = projectkey::parsePublicKey(key);
    if (!parsed) return parsed.error();
    return pg::transact(m_ctx.pool, pg::Isolation::ReadCommitted, [&](pg::Connection& c) -> Status {
        if (auto s = c.run("INSERT INTO meta (key, value) VALUES ('project_key', $1) ON CONFLICT "
                           "(key) DO UPDATE SET value = excluded.value",
                           pg::Params().add(key), "storing the project key");
            !s)
            return s;
        return postgres::audit(c, nowMs, actor, "project-key", parsed->id, key);
    });
}

}  // namespace veld::sync::postgres
