// Exports for evaluators: the current view of a form's records, as one wide table (one row per
// record, one column per question; a select-many question as one 0/1 column per choice), one
// long table per repeat (one row per instance, with the record id and the instance's place as
// the key), and a codebook of every variable in every language of the form. Records are read
// from one snapshot of the collector and streamed: memory stays flat.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <veld/result.hpp>
#include <veld/sync/collector_store.hpp>
#include <veld/sync/export_table.hpp>

namespace veld::sync {

enum class ExportFormat { Csv, Sav, Dta };

struct ExportOptions {
    std::string formId;
    RecordQuery filter;  // formId is taken from above
    ExportFormat format = ExportFormat::Csv;
    std::string language;   // labels; empty: the form's default language
    std::string directory;  // where the files go (it must exist)
    /// Called with 0 and the total once they are counted, then now and then with records done.
    std::function<void(std::int64_t done, std::int64_t total)> progress;
    /// When set and it turns true (from another thread), the export stops at the next record
    /// and fails with WrongState, leaving no file behind.
    const std::atomic<bool>* cancel = nullptr;
};

struct ExportResult {
    std::vector<std::string> files;  // tables first, the codebook last
    std::int64_t records = 0;
    std::int64_t unreadable = 0;  // records whose body could not be read: a row with only the key
};

/// Exports one form (its newest published version describes the columns; records of older
/// versions fill the columns they share). Pseudonymous identifiers are exported as their digest
/// (hex), never in a raw form (devices never send one).
Result<ExportResult> exportForm(CollectorStore& store, const ExportOptions& options);

std::string_view exportFormatName(ExportFormat format);  // csv, sav, dta
std::optional<ExportFormat> parseExportFormat(std::string_view name);

}  // namespace veld::sync
