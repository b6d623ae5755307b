// Exports for evaluators: the current view of a form's records, as one wide table (one row per
// record, one column per question; a select-many question as one 0/1 column per choice), one
// long table per repeat (one row per instance, with the record id and the instance's place as
// the key), and a codebook of every variable in every language of the form. Records are read
// from one snapshot of an ExportSource (the collector's store, or a records file fetched from
// it) and streamed: memory stays flat.
//
// Sealed records open only with the project's private keys, which never go to the collector:
// there, an export gives their rows without answers. The console therefore has the collector
// write a records file (ExportFormat::Records: the bodies as stored) and runs this exporter
// itself with its keys, over a RecordsFile (veld/sync/records_file.hpp).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <veld/project_key.hpp>
#include <veld/result.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/export_table.hpp>

namespace veld::sync {

/// Csv, Sav, Dta: tables for people, a file per table. Xlsx: one Excel workbook FORM.xlsx with a
/// sheet per table and the codebook's sheet. Records: one file FORM.records holding the form's
/// published versions and its records' bodies as stored (sealed ones still sealed), for exporting
/// elsewhere from a RecordsFile; language, values and keys do not apply to it. (The numbers are
/// the admin API's.)
enum class ExportFormat { Csv = 0, Sav = 1, Dta = 2, Records = 3, Xlsx = 4 };

/// How coded answers (choices, consent, review state, ...) appear: as their codes, with value
/// labels where the format has them, or as their labels (in the export's language) in text
/// columns. The codebook gives both either way.
enum class ExportValues { Codes = 0, Labels = 1 };

/// The collector's store as an export source (it must outlive this).
class CollectorExportSource final : public ExportSource {
  public:
    explicit CollectorExportSource(CollectorStore& store) : m_store(store) {}
    Result<std::vector<PublishedFormInfo>> publishedForms() override {
        return m_store.publishedForms();
    }
    Result<std::int64_t> countRecords(const RecordQuery& query) override {
        return m_store.countRecords(query);
    }
    Status forEachRecord(const RecordQuery& query, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const CurrentRecord&)>& visit) override {
        return m_store.forEachRecord(query, passes, startPass, visit);
    }

  private:
    CollectorStore& m_store;
};

/// Why a row has no answers: the value of the `unreadable` column (with value labels in .sav,
/// .dta and the codebook).
enum class Unreadable : std::uint8_t {
    Readable = 0,
    Damaged = 1,      // the body was damaged on the device, or cannot be read
    SealedNoKey = 2,  // sealed to a project key the export was not given
    SealedBroken = 3  // sealed, and it does not open with its key (changed, or mismatched)
};

struct ExportOptions {
    std::string formId;
    RecordQuery filter;  // formId is taken from above
    ExportFormat format = ExportFormat::Csv;
    std::string language;  // labels; empty: the form's default language
    ExportValues values = ExportValues::Codes;
    std::string directory;  // where the files go (it must exist)
    /// Called with 0 and the total once they are counted, then now and then with records done.
    std::function<void(std::int64_t done, std::int64_t total)> progress;
    /// When set and it turns true (from another thread), the export stops at the next record
    /// and fails with WrongState, leaving no file behind.
    const std::atomic<bool>* cancel = nullptr;
    /// Unlocked project keys that sealed records are opened with (empty: none). Opened content
    /// lives only while its rows are written.
    std::vector<projectkey::SecretKey> keys;
};

struct ExportResult {
    std::vector<std::string> files;  // tables first, the codebook last
    std::int64_t records = 0;
    /// Rows with only the key columns, for any reason (`unreadable` 1, 2 or 3); for Records, the
    /// records that arrived damaged.
    std::int64_t unreadable = 0;
    /// Of those, the sealed records that were not opened (`unreadable` 2 or 3); 0 for Records,
    /// which opens nothing.
    std::int64_t sealedUnopened = 0;
};

/// Exports one form (its newest published version describes the columns; records of older
/// versions fill the columns they share). Pseudonymous identifiers are exported as their digest
/// (hex), never in a raw form (devices never send one). A sealed record is opened with
/// `options.keys`; when it does not open, its row has only the key columns and `unreadable`
/// says why.
Result<ExportResult> exportForm(ExportSource& source, const ExportOptions& options);
Result<ExportResult> exportForm(CollectorStore& store, const ExportOptions& options);

std::string_view exportFormatName(ExportFormat format);  // csv, sav, dta, records, xlsx
std::optional<ExportFormat> parseExportFormat(std::string_view name);
std::string_view exportValuesName(ExportValues values);  // codes, labels
std::optional<ExportValues> parseExportValues(std::string_view name);

}  // namespace veld::sync
