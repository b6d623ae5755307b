// Records files (ExportFormat::Records): a form's records as the collector holds them, bodies
// still sealed, with every published version of the form, in one file. The collector writes
// one as an export job; the console fetches it and exports from it with its own project keys,
// so private keys never reach the collector. The layout is in schemas/admin.fbs
// (AdminRecordsFrame) and docs/protocol.md.
//
// A records file comes over the network: every frame is checked (size, identifier, the
// FlatBuffers Verifier, then sense) before it is used, every form binary is checked as a form,
// and a file that is cut short, changed or padded is refused with Corrupt, never read in part.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <veld/result.hpp>
#include <veld/sync/export.hpp>

namespace veld::sync {

/// The file identifier of every frame of a records file.
inline constexpr const char* kRecordsFileIdentifier = "VRCS";
/// The layout version written in the header; files with another one are refused.
inline constexpr std::uint32_t kRecordsFileVersion = 1;
/// The largest frame a reader accepts (a record body is at most a push's size; the header holds
/// every published version of one form).
inline constexpr std::size_t kMaxRecordsFrameBytes = 64u << 20;

/// Writes the records of `options.formId` matching `options.filter` into
/// `options.directory`/FORM.records (mode 0600; complete or not there at all), with the form's
/// published versions. NotFound when the form is not published at the source.
Result<ExportResult> writeRecordsFile(ExportSource& source, const ExportOptions& options);

/// A records file as an export source. The file is read again on every pass (memory stays
/// flat); it must not change while it is in use, and if it does the change is caught as
/// Corrupt. Use from one thread at a time.
class RecordsFile final : public ExportSource {
  public:
    /// Opens a records file and checks all of it: Corrupt (saying what is wrong) for anything
    /// that is not a whole, sound records file; NotFound or Io when it cannot be read.
    static Result<std::unique_ptr<RecordsFile>> open(const std::string& path);

    /// The form the file holds records of.
    [[nodiscard]] const std::string& formId() const { return m_formId; }
    /// How many records the file holds.
    [[nodiscard]] std::int64_t records() const { return m_records; }

    /// The versions of formId() the file carries.
    Result<std::vector<PublishedFormInfo>> publishedForms() override;
    /// Queries are applied as the collector applies them, so a file written for a filter
    /// and read with the same filter gives the same records.
    Result<std::int64_t> countRecords(const RecordQuery& query) override;
    Status forEachRecord(const RecordQuery& query, int passes,
                         const std::function<Status(int pass)>& startPass,
                         const std::function<Status(const CurrentRecord&)>& visit) override;

  private:
    RecordsFile() = default;
    // One pass over the file's records (each matching `query` handed to `visit`, when set).
    Status scan(const RecordQuery* query, const std::function<Status(const CurrentRecord&)>& visit);

    std::string m_path;
    std::string m_formId;
    std::vector<PublishedFormInfo> m_forms;
    std::int64_t m_records = 0;
};

}  // namespace veld::sync
