// The SQLite store's shared context: connections, kept statements, the checkpoint thread.
#include "sqlite_collector.hpp"

namespace veld::sync::sqlite {

namespace {

constexpr int kCheckpointPages = 2000;  // about 8 MiB of WAL

}  // namespace

SqliteContext::SqliteContext(std::string path_, sql::Database db_, sql::Database reader_,
                             sql::Database checkpointer, CollectorPolicy policy_)
    : path(std::move(path_)),
      db(std::move(db_)),
      reader(std::move(reader_)),
      policy(policy_),
      m_checkpointer(std::move(checkpointer)) {
    // Checkpoints (copying the WAL back into the database file) run on a thread of their own
    // instead of inside whichever commit crossed SQLite's threshold: a push never waits for
    // one. The hook replaces SQLite's automatic checkpoints on the writing connection.
    db.onWalCommit([this](int pages) { walGrew(pages); });
    m_checkpointThread = std::thread([this] { checkpointLoop(); });
}

SqliteContext::~SqliteContext() {
    {
        std::lock_guard lock(m_checkpointMutex);
        m_closing = true;
    }
    m_checkpointWanted.notify_all();
    m_checkpointThread.join();
    db.onWalCommit({});
}

Status SqliteContext::prepare() {
    const std::pair<sql::Statement*, const char*> writer[] = {
        {&deviceState,
         "SELECT received_through, revoked_utc_ms FROM devices "
         "WHERE device_id = ?"},
        {&heldRevision, "SELECT record_id, hlc FROM revisions WHERE device_id = ? AND seq = ?"},
        {&heldRejected, "SELECT record_id FROM rejected WHERE device_id = ? AND seq = ?"},
        {&insertRejected,
         "INSERT INTO rejected (device_id, seq, record_id, "
         "reason, body, received_utc_ms) "
         "VALUES (?, ?, ?, ?, ?, ?)"},
        {&insertRevision,
         "INSERT INTO revisions (device_id, seq, record_id, "
         "hlc, base_hlc, form_id, "
         "form_version, body, damaged, damage_reason, "
         "clock_flagged, received_utc_ms, chain_prev, chain_link, chain_note) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
        {&currentRecord,
         "SELECT r.current_rid, r.hlc, v.device_id FROM records r "
         "JOIN revisions v ON v.rid = r.current_rid WHERE r.record_id = ?"},
        {&insertRecord,
         "INSERT INTO records (record_id, current_rid, hlc, "
         "first_device, form_id) "
         "VALUES (?, ?, ?, ?, ?)"},
        {&insertConflict,
         "INSERT INTO conflicts (record_id, rid_a, rid_b, "
         "detected_utc_ms) VALUES (?, ?, ?, "
         "?)"},
        {&updateRecord, "UPDATE records SET current_rid = ?, hlc = ? WHERE record_id = ?"},
        {&openCorrection, "SELECT about_hlc FROM corrections WHERE record_id = ? AND state = 0"},
        {&advanceDevice,
         "UPDATE devices SET received_through = ?, last_contact_utc_ms = ?, "
         "waiting = coalesce(?, waiting) WHERE device_id = ?"},
    };
    for (const auto& [st, text] : writer) {
        auto prepared = db.prepare(text);
        if (!prepared) return prepared.error();
        *st = std::move(prepared.value());
    }
    auto found = reader.prepare(
        "SELECT credential_hash, revoked_utc_ms FROM "
        "devices WHERE device_id = ?");
    if (!found) return found.error();
    credential = std::move(found.value());
    return {};
}

void SqliteContext::walGrew(int pages) {
    if (pages < kCheckpointPages) return;
    {
        std::lock_guard lock(m_checkpointMutex);
        m_checkpointDue = true;
    }
    m_checkpointWanted.notify_one();
}

void SqliteContext::checkpointLoop() {
    std::unique_lock lock(m_checkpointMutex);
    for (;;) {
        m_checkpointWanted.wait(lock, [this] { return m_checkpointDue || m_closing; });
        if (m_closing) return;
        m_checkpointDue = false;
        lock.unlock();
        // PASSIVE: copies what no reader still needs, never blocks the writer. What it
        // cannot copy now is copied by a later round (or when the collector closes).
        (void)m_checkpointer.checkpointPassive();
        lock.lock();
    }
}

}  // namespace veld::sync::sqlite
