// SPSS .sav and Stata .dta table writers on ReadStat. ReadStat holds the table's description
// (variables, labels, value labels) and writes the header when the first row arrives; rows go
// through a buffered sink on a file descriptor of our own, so that every failed write (a full
// disk) is seen and reported, whatever ReadStat does with the short count.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <fcntl.h>
#include <readstat.h>
#include <unistd.h>

#include <veld/sync/export_table.hpp>

#include "export_statistical.hpp"

namespace veld::sync {

using namespace detail::statistical;

namespace {

// Days from 1582-10-14 (SPSS's epoch) to 1970-01-01, and from 1960-01-01 (Stata's) to 1970.
constexpr std::int64_t kSpssEpochDays = 141428;
constexpr std::int64_t kStataEpochDays = 3653;
constexpr double kSecondsPerDay = 86400.0;
constexpr double kMsPerDay = 86400000.0;

// The largest int32 (a Stata long) that Stata does not read as a missing value (.a to .z sit
// above it): the bound for value labels and for daily dates.
constexpr std::int64_t kStataMaxInt32 = 2147483620;

/// The error for a failed system call on the export file.
Error fileError(int err, const std::string& what, const std::string& path) {
    ErrorCode code = ErrorCode::Io;
    if (err == ENOSPC || err == EDQUOT || err == EFBIG) code = ErrorCode::StorageFull;
    if (err == EACCES || err == EPERM || err == EROFS) code = ErrorCode::ReadOnly;
    if (err == ENOENT || err == ENOTDIR) code = ErrorCode::NotFound;
    return makeError(code, what + " " + path + ": " + std::strerror(err));
}

/// The export file: a descriptor with a write buffer. A failed write is remembered (errno) and
/// makes every later write fail, so that nothing after it is mistaken for success.
class FileSink {
  public:
    FileSink() = default;
    FileSink(const FileSink&) = delete;
    FileSink& operator=(const FileSink&) = delete;
    ~FileSink() {
        if (m_fd >= 0) ::close(m_fd);
    }

    Status open(const std::string& path) {
        m_path = path;
        m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (m_fd < 0) return fileError(errno, "cannot create", path);
        m_buffer.reserve(kBufferBytes);
        return {};
    }

    /// ReadStat's data writer. Returns 0 (a short write, whatever ReadStat does with -1) once
    /// anything has failed.
    static ssize_t write(const void* data, size_t len, void* ctx) {
        auto* self = static_cast<FileSink*>(ctx);
        if (self->m_errno != 0 || self->m_fd < 0) return 0;
        const auto* bytes = static_cast<const char*>(data);
        if (self->m_buffer.size() + len > kBufferBytes && !self->flush()) return 0;
        if (len >= kBufferBytes) {
            if (!self->writeAll(bytes, len)) return 0;
        } else {
            self->m_buffer.append(bytes, len);
        }
        return static_cast<ssize_t>(len);
    }

    /// The first write error, if any.
    [[nodiscard]] Status status() const {
        if (m_errno == 0) return {};
        return fileError(m_errno, "cannot write", m_path);
    }

    /// Writes what is buffered, makes it durable and closes the file.
    Status finish() {
        if (m_errno == 0 && !flush()) return status();
        if (m_errno != 0) return status();
        // EINVAL: a special file (a pipe, /dev/stdout) that cannot be synchronised.
        if (::fsync(m_fd) != 0 && errno != EINVAL) return fileError(errno, "cannot write", m_path);
        const int fd = m_fd;
        m_fd = -1;
        if (::close(fd) != 0) return fileError(errno, "cannot write", m_path);
        return {};
    }

  private:
    static constexpr std::size_t kBufferBytes = 1 << 16;

    bool flush() {
        if (m_buffer.empty()) return true;
        const bool ok = writeAll(m_buffer.data(), m_buffer.size());
        m_buffer.clear();
        return ok;
    }

    bool writeAll(const char* bytes, std::size_t len) {
        while (len > 0) {
            const ssize_t n = ::write(m_fd, bytes, len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                m_errno = n < 0 ? errno : EIO;
                return false;
            }
            bytes += n;
            len -= static_cast<std::size_t>(n);
        }
        return true;
    }

    std::string m_path;
    int m_fd = -1;
    int m_errno = 0;
    std::string m_buffer;
};

struct WriterDeleter {
    void operator()(readstat_writer_t* writer) const { readstat_writer_free(writer); }
};
using WriterPtr = std::unique_ptr<readstat_writer_t, WriterDeleter>;

class ReadStatTableWriter final : public TableWriter {
  public:
    ReadStatTableWriter(std::string path, Format format)
        : m_path(std::move(path)), m_format(format), m_limits(limitsFor(format)) {}

    Status begin(const ExportTable& table, std::int64_t rowCount) override {
        if (m_state != State::New)
            return fail(makeError(ErrorCode::WrongState, "begin() called twice on " + m_path));
        m_state = State::Failed;  // until everything below succeeds
        if (rowCount < 0 || rowCount > std::numeric_limits<int>::max())
            return fail(makeError(ErrorCode::InvalidArgument,
                                  "cannot write " + std::to_string(rowCount) + " rows to a " +
                                      m_limits.formatName + " file"));
        m_columns = table.columns;
        m_rowCount = rowCount;

        if (auto opened = m_sink.open(m_path); !opened) return fail(opened.error());
        m_writer.reset(readstat_writer_init());
        if (!m_writer) return fail(makeError(ErrorCode::Internal, "ReadStat: out of memory"));
        readstat_writer_t* w = m_writer.get();
        if (auto st = check(readstat_set_data_writer(w, &FileSink::write), "setting up"); !st)
            return fail(st.error());
        if (m_format == Format::Sav) {
            // SPSS's own bytecode compression: blank padding of wide strings costs little.
            if (auto st =
                    check(readstat_writer_set_compression(w, READSTAT_COMPRESS_ROWS), "setting up");
                !st)
                return fail(st.error());
        } else {
            // Format 118 (Stata 14 and later): UTF-8 throughout.
            if (auto st = check(readstat_writer_set_file_format_version(w, 118), "setting up"); !st)
                return fail(st.error());
        }
        // ReadStat would stamp the header with the clock; the data's own time keeps exports of
        // the same data byte for byte the same.
        if (auto st = check(
                readstat_writer_set_file_timestamp(
                    w, static_cast<time_t>(std::max<std::int64_t>(0, table.timestampUtcMs) / 1000)),
                "setting up");
            !st)
            return fail(st.error());
        const std::string fileLabel = truncateUtf8(table.label, m_limits.fileLabelBytes);
        if (auto st = check(readstat_writer_set_file_label(w, fileLabel.c_str()), "setting up");
            !st)
            return fail(st.error());

        if (auto st = addVariables(); !st) return fail(st.error());

        const readstat_error_t started =
            m_format == Format::Sav
                ? readstat_begin_writing_sav(w, &m_sink, static_cast<long>(rowCount))
                : readstat_begin_writing_dta(w, &m_sink, static_cast<long>(rowCount));
        if (auto st = check(started, "starting"); !st) return fail(st.error());
        for (std::size_t i = 0; i < m_variables.size(); ++i) {
            if (auto st = check(readstat_validate_variable(w, m_variables[i]),
                                "column " + m_columns[i].name + " (" + m_names[i] + ")");
                !st)
                return fail(st.error());
        }
        m_state = State::Writing;
        return {};
    }

    Status row(std::span<const Cell> cells) override {
        if (m_state == State::Failed) return m_error;
        if (m_state != State::Writing)
            return makeError(ErrorCode::WrongState, "row() outside begin() and end() on " + m_path);
        if (m_written >= m_rowCount)
            return fail(makeError(
                ErrorCode::InvalidArgument,
                "more rows than the " + std::to_string(m_rowCount) + " announced for " + m_path));
        if (cells.size() != m_columns.size())
            return fail(makeError(ErrorCode::InvalidArgument,
                                  "a row of " + std::to_string(cells.size()) + " cells for " +
                                      std::to_string(m_columns.size()) + " columns in " + m_path));
        readstat_writer_t* w = m_writer.get();
        if (auto st = check(readstat_begin_row(w), "writing a row"); !st) return fail(st.error());
        for (std::size_t i = 0; i < cells.size(); ++i) {
            if (auto st = insert(i, cells[i]); !st) return fail(st.error());
        }
        if (auto st = check(readstat_end_row(w), "writing a row"); !st) return fail(st.error());
        ++m_written;
        return {};
    }

    Status end() override {
        if (m_state == State::Failed) return m_error;
        if (m_state != State::Writing)
            return makeError(ErrorCode::WrongState, "end() without begin() on " + m_path);
        if (m_written != m_rowCount)
            return fail(makeError(ErrorCode::InvalidArgument,
                                  std::to_string(m_rowCount) + " rows were announced for " +
                                      m_path + " but " + std::to_string(m_written) +
                                      " were written"));
        if (auto st = check(readstat_end_writing(m_writer.get()), "finishing"); !st)
            return fail(st.error());
        m_writer.reset();
        if (auto st = m_sink.finish(); !st) return fail(st.error());
        m_state = State::Done;
        return {};
    }

  private:
    enum class State { New, Writing, Done, Failed };

    Status fail(Error error) {
        m_state = State::Failed;
        m_error = error;
        return error;
    }

    /// A ReadStat result as a Status; a write error is reported as the sink saw it (errno).
    Status check(readstat_error_t rc, const std::string& what) const {
        if (auto sink = m_sink.status(); !sink) return sink;
        if (rc == READSTAT_OK) return {};
        const ErrorCode code = rc == READSTAT_ERROR_WRITE    ? ErrorCode::Io
                               : rc == READSTAT_ERROR_MALLOC ? ErrorCode::Internal
                                                             : ErrorCode::InvalidArgument;
        return makeError(code, std::string("ReadStat: ") + what + " " + m_path + ": " +
                                   readstat_error_message(rc));
    }

    Status addVariables() {
        readstat_writer_t* w = m_writer.get();
        m_names = statisticalNames(
            m_columns, m_format == Format::Sav ? StatisticalFormat::Sav : StatisticalFormat::Dta);
        std::vector<std::string> labelSetBases;
        for (const auto& name : m_names)
            labelSetBases.push_back(truncateUtf8("l_" + name, m_limits.labelSetBytes));
        const std::vector<std::string> labelSetNames =
            uniqueNames(labelSetBases, m_limits.labelSetBytes);

        for (std::size_t i = 0; i < m_columns.size(); ++i) {
            const ExportColumn& column = m_columns[i];
            const bool numeric = column.type != ColumnType::Text;
            const bool labelled =
                !column.valueLabels.empty() &&
                (column.type == ColumnType::Integer || column.type == ColumnType::Decimal);
            std::size_t width = 0;
            if (!numeric) width = stringWidth(column, m_limits);
            readstat_variable_t* variable =
                readstat_add_variable(w, m_names[i].c_str(), variableType(column.type), width);
            if (!variable) return makeError(ErrorCode::Internal, "ReadStat: out of memory");
            m_variables.push_back(variable);
            m_widths.push_back(width);

            const std::string label = truncateUtf8(column.label, m_limits.labelBytes);
            readstat_variable_set_label(variable, label.c_str());
            if (const char* format = displayFormat(column.type))
                readstat_variable_set_format(variable, format);
            readstat_variable_set_measure(
                variable, !numeric || labelled ? READSTAT_MEASURE_NOMINAL : READSTAT_MEASURE_SCALE);
            if (labelled) {
                if (auto st = addLabelSet(variable, column, labelSetNames[i]); !st) return st;
            }
        }
        return {};
    }

    /// Value labels: SPSS keeps them as doubles; Stata's are int32, outside its missing codes.
    Status addLabelSet(readstat_variable_t* variable, const ExportColumn& column,
                       const std::string& name) {
        const readstat_type_t type =
            m_format == Format::Dta ? READSTAT_TYPE_INT32 : READSTAT_TYPE_DOUBLE;
        readstat_label_set_t* set = readstat_add_label_set(m_writer.get(), type, name.c_str());
        if (!set) return makeError(ErrorCode::Internal, "ReadStat: out of memory");
        for (const ValueLabel& value : column.valueLabels) {
            const std::string text = truncateUtf8(value.label, m_limits.valueLabelBytes);
            if (m_format == Format::Dta) {
                if (value.value < -kStataMaxInt32 || value.value > kStataMaxInt32)
                    return makeError(ErrorCode::InvalidArgument,
                                     "column " + column.name + ": the labelled value " +
                                         std::to_string(value.value) +
                                         " is out of Stata's range for value labels");
                readstat_label_int32_value(set, static_cast<std::int32_t>(value.value),
                                           text.c_str());
            } else {
                readstat_label_double_value(set, static_cast<double>(value.value), text.c_str());
            }
        }
        readstat_variable_set_label_set(variable, set);
        return {};
    }

    /// Numbers are doubles (int64 values, ms, SPSS's seconds), but Stata's daily dates are
    /// longs (int32), as Stata itself makes them and as ReadStat reads them back as dates.
    readstat_type_t variableType(ColumnType type) const {
        if (type == ColumnType::Text) return READSTAT_TYPE_STRING;
        if (type == ColumnType::Date && m_format == Format::Dta) return READSTAT_TYPE_INT32;
        return READSTAT_TYPE_DOUBLE;
    }

    const char* displayFormat(ColumnType type) const {
        const bool sav = m_format == Format::Sav;
        switch (type) {
            case ColumnType::Text:
            case ColumnType::Decimal:
                return nullptr;
            case ColumnType::Integer:
                return sav ? "F12.0" : nullptr;
            case ColumnType::Date:
                return sav ? "DATE11" : "%td";
            case ColumnType::Time:
                return sav ? "TIME8" : "%tcHH:MM:SS";
            case ColumnType::DateTime:
                return sav ? "DATETIME20" : "%tc";
        }
        return nullptr;
    }

    /// A cell's value in the format's own convention (dates and times) as a double.
    double numericValue(ColumnType type, std::int64_t v) const {
        const bool sav = m_format == Format::Sav;
        const double value = static_cast<double>(v);
        switch (type) {
            case ColumnType::Date:  // days since 1970-01-01
                return sav ? (value + static_cast<double>(kSpssEpochDays)) * kSecondsPerDay
                           : value + static_cast<double>(kStataEpochDays);
            case ColumnType::Time:  // ms since midnight
                return sav ? value / 1000.0 : value;
            case ColumnType::DateTime:  // ms since 1970-01-01 UTC
                return sav ? static_cast<double>(kSpssEpochDays) * kSecondsPerDay + value / 1000.0
                           : static_cast<double>(kStataEpochDays) * kMsPerDay + value;
            case ColumnType::Text:
            case ColumnType::Integer:
            case ColumnType::Decimal:
                break;
        }
        return value;
    }

    Status insert(std::size_t i, const Cell& cell) {
        readstat_writer_t* w = m_writer.get();
        const ExportColumn& column = m_columns[i];
        readstat_variable_t* variable = m_variables[i];
        const std::string where = "column " + column.name + " (" + m_names[i] + ")";
        readstat_error_t rc = READSTAT_OK;
        if (std::holds_alternative<std::monostate>(cell)) {
            rc = readstat_insert_missing_value(w, variable);
        } else if (column.type == ColumnType::Text) {
            const auto* text = std::get_if<std::string>(&cell);
            if (!text) return typeMismatch(column);
            if (text->size() <= m_widths[i]) {
                rc = readstat_insert_string_value(w, variable, text->c_str());
            } else {
                const std::string cut = truncateUtf8(*text, m_widths[i]);
                rc = readstat_insert_string_value(w, variable, cut.c_str());
            }
        } else if (const auto* number = std::get_if<std::int64_t>(&cell);
                   number && column.type == ColumnType::Date && m_format == Format::Dta) {
            if (*number < -kStataMaxInt32 || *number > kStataMaxInt32 - kStataEpochDays)
                return makeError(ErrorCode::InvalidArgument,
                                 where + ": a date out of Stata's range in row " +
                                     std::to_string(m_written + 1));
            rc = readstat_insert_int32_value(w, variable,
                                             static_cast<std::int32_t>(*number + kStataEpochDays));
        } else if (number) {
            rc = readstat_insert_double_value(w, variable, numericValue(column.type, *number));
        } else if (const auto* real = std::get_if<double>(&cell);
                   real &&
                   (column.type == ColumnType::Decimal || column.type == ColumnType::Integer)) {
            rc = std::isfinite(*real) ? readstat_insert_double_value(w, variable, *real)
                                      : readstat_insert_missing_value(w, variable);
        } else {
            return typeMismatch(column);
        }
        return check(rc, "writing " + where + " of row " + std::to_string(m_written + 1) + " in");
    }

    Status typeMismatch(const ExportColumn& column) const {
        return makeError(ErrorCode::InvalidArgument, "column " + column.name + " is " +
                                                         std::string(columnTypeName(column.type)) +
                                                         " but a row has a cell of another type");
    }

    std::string m_path;
    Format m_format;
    const Limits& m_limits;
    FileSink m_sink;     // outlives m_writer, which writes into it
    WriterPtr m_writer;  // freed on every path, also when begin() or a row fails
    std::vector<ExportColumn> m_columns;
    std::vector<std::string> m_names;
    std::vector<readstat_variable_t*> m_variables;  // owned by m_writer
    std::vector<std::size_t> m_widths;              // Text columns: the declared width
    std::int64_t m_rowCount = 0;
    std::int64_t m_written = 0;
    State m_state = State::New;
    Error m_error{ErrorCode::Internal, {}};
};

}  // namespace

std::unique_ptr<TableWriter> savTableWriter(const std::string& path) {
    return std::make_unique<ReadStatTableWriter>(path, Format::Sav);
}

std::unique_ptr<TableWriter> dtaTableWriter(const std::string& path) {
    return std::make_unique<ReadStatTableWriter>(path, Format::Dta);
}

}  // namespace veld::sync
