// veldctl collector copy: the tables of one collector store into another, then verified.
#include <array>

#include <sodium.h>

#include <veld/hex.hpp>
#include <veld/sync/collector_copy.hpp>
#include <veld/sync/collector_store.hpp>

#include "table_access.hpp"

namespace veld::sync {

namespace {

using tables::Kind;
using tables::Row;
using tables::Table;
using tables::TableAccess;

Result<std::unique_ptr<TableAccess>> openTables(const std::string& location, bool create,
                                                const std::string& passwordFile) {
    if (isPostgresLocation(location))
        return tables::openPostgresTables(location, create, passwordFile);
    return tables::openSqliteTables(location, create);
}

// The canonical encoding of a row for the digest: per column a tag (0 null, 1 integer, 2 text or
// bytes) then the integer as 8 bytes big-endian, or the length as 8 bytes and the bytes.
class TableDigest {
  public:
    explicit TableDigest(const Table& table) : m_table(table) {
        crypto_generichash_init(&m_state, nullptr, 0, crypto_generichash_BYTES);
        add(table.name);
    }
    void row(const Row& row) {
        ++m_rows;
        for (std::size_t i = 0; i < row.size(); ++i) {
            const auto& v = row[i];
            if (v.null) {
                tag(0);
            } else if (m_table.columns[i].kind == Kind::Integer) {
                tag(1);
                number(static_cast<std::uint64_t>(v.integer));
            } else {
                tag(2);
                add(v.bytes);
            }
        }
    }
    [[nodiscard]] std::int64_t rows() const { return m_rows; }
    std::string hex() {
        std::array<std::uint8_t, crypto_generichash_BYTES> out{};
        crypto_generichash_final(&m_state, out.data(), out.size());
        return toHex(out);
    }

  private:
    void tag(std::uint8_t t) { crypto_generichash_update(&m_state, &t, 1); }
    void number(std::uint64_t n) {
        std::array<std::uint8_t, 8> b{};
        for (int i = 7; i >= 0; --i, n >>= 8)
            b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n & 0xff);
        crypto_generichash_update(&m_state, b.data(), b.size());
    }
    void add(std::string_view bytes) {
        number(bytes.size());
        crypto_generichash_update(&m_state, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                  bytes.size());
    }

    const Table& m_table;
    crypto_generichash_state m_state{};
    std::int64_t m_rows = 0;
};

Result<std::vector<TableCheck>> digestAll(TableAccess& side) {
    if (auto s = side.begin(false); !s) return s.error();
    std::vector<TableCheck> out;
    for (const auto& table : tables::collectorTables()) {
        TableDigest digest(table);
        if (auto s = side.scan(table,
                               [&](const Row& row) {
                                   digest.row(row);
                                   return Status{};
                               });
            !s)
            return s.error();
        TableCheck check;
        check.table = std::string(table.name);
        check.sourceRows = digest.rows();
        check.sourceDigest = digest.hex();
        out.push_back(std::move(check));
    }
    if (auto s = side.commit(); !s) return s.error();
    return out;
}

}  // namespace

bool CopyReport::verified() const {
    for (const auto& t : tables) {
        if (!t.same()) return false;
    }
    return !tables.empty();
}

Result<std::vector<TableCheck>> digestCollector(const std::string& location,
                                                const std::string& passwordFile) {
    if (sodium_init() < 0) return makeError(ErrorCode::Internal, "libsodium did not start");
    auto side = openTables(location, false, passwordFile);
    if (!side) return side.error();
    return digestAll(*side.value());
}

Result<CopyReport> copyCollector(const std::string& from, const std::string& to,
                                 const std::function<void(std::string_view)>& progress,
                                 const std::string& passwordFile) {
    if (sodium_init() < 0) return makeError(ErrorCode::Internal, "libsodium did not start");
    if (from == to)
        return makeError(ErrorCode::InvalidArgument, "the source and target are one store");
    auto source = openTables(from, false, passwordFile);
    if (!source) return source.error();
    auto target = openTables(to, true, passwordFile);
    if (!target) return target.error();
    TableAccess& src = *source.value();
    TableAccess& dst = *target.value();

    if (auto s = dst.begin(true); !s) return s.error();
    for (const auto& table : tables::collectorTables()) {
        if (!tables::marksStoreInUse(table)) continue;
        auto n = dst.count(table);
        if (!n) return n.error();
        if (n.value() != 0) {
            return makeError(ErrorCode::WrongState,
                             dst.describe() + " is not empty (its table " +
                                 std::string(table.name) + " holds " + std::to_string(n.value()) +
                                 " rows); a collector is copied only into a new store");
        }
    }
    if (auto s = src.begin(false); !s) return s.error();
    for (const auto& table : tables::collectorTables()) {
        if (progress) progress("copying " + std::string(table.name));
        if (!tables::marksStoreInUse(table)) {
            if (auto s = dst.clear(table); !s) return s.error();
        }
        if (auto s = src.scan(table, [&](const Row& row) { return dst.insert(table, row); }); !s)
            return s.error();
    }
    if (auto s = dst.continueRowIds(); !s) return s.error();
    if (auto s = src.commit(); !s) return s.error();
    if (auto s = dst.commit(); !s) return s.error();

    if (progress) progress("verifying");
    auto before = digestAll(src);
    if (!before) return before.error();
    auto after = digestAll(dst);
    if (!after) return after.error();
    CopyReport report;
    for (std::size_t i = 0; i < before->size(); ++i) {
        TableCheck check = before.value()[i];
        check.targetRows = after.value()[i].sourceRows;
        check.targetDigest = after.value()[i].sourceDigest;
        report.tables.push_back(std::move(check));
    }
    return report;
}

}  // namespace veld::sync
