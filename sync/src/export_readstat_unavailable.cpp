// SPSS and Stata files in a build without ReadStat (Veld for Windows: Debian has no iconv for
// mingw-w64, which ReadStat needs). Asking for one fails at once with the reason; CSV, Excel
// and records files are written as everywhere.
#include <veld/sync/export_table.hpp>

namespace veld::sync {

namespace {

class UnavailableWriter final : public TableWriter {
  public:
    explicit UnavailableWriter(const char* format) : m_format(format) {}
    Status begin(const ExportTable&, std::int64_t) override { return refused(); }
    Status row(std::span<const Cell>) override { return refused(); }
    Status end() override { return refused(); }

  private:
    [[nodiscard]] Status refused() const {
        return makeError(ErrorCode::InvalidArgument,
                         std::string(m_format) +
                             " files are not written by this build of Veld; export CSV or Excel "
                             "here, or " +
                             m_format + " at the collector");
    }
    const char* m_format;
};

}  // namespace

std::unique_ptr<TableWriter> savTableWriter(const std::string&) {
    return std::make_unique<UnavailableWriter>("SPSS (.sav)");
}

std::unique_ptr<TableWriter> dtaTableWriter(const std::string&) {
    return std::make_unique<UnavailableWriter>("Stata (.dta)");
}

}  // namespace veld::sync
