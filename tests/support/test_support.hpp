// Shared test helpers. Everything here works on real files and real processes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

#include <veld/record.hpp>

namespace veld::test {

/// A fresh folder under $TMPDIR (or /tmp), removed with everything in it at destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::string& path() const { return m_path; }
    [[nodiscard]] std::string file(const std::string& name) const { return m_path + "/" + name; }

  private:
    std::string m_path;
};

/// A realistic record content whose answers are derived from `n`, so a test can check later
/// that the record it reads back is exactly the one it saved.
RecordContent sampleContent(int n, const std::string& formId = "vmbo_parent_survey");

/// Sorts answers and repeats by name, as decodeRecord() returns them.
RecordContent normalized(RecordContent content);

struct ProcessResult {
    int exitCode = -1;  // -1 when killed by a signal
    int signal = 0;
    std::string out;
    std::string err;
};

/// Runs a program to completion, capturing stdout and stderr.
ProcessResult runProcess(const std::vector<std::string>& argv);

/// Writes a self-signed certificate for localhost and 127.0.0.1 (valid two days) and its key, made
/// by the openssl command; throws std::runtime_error when openssl fails.
void makeTestCertificate(const std::string& certPath, const std::string& keyPath);

/// How a ChildProcess starts, beyond its arguments.
struct ChildOptions {
    std::vector<std::string> env;  // "NAME=value" entries added to this process's environment
    std::string errFile;           // stderr goes (appended) to this file; empty: inherited
};

/// A program running in the background with its stdout on a pipe.
class ChildProcess {
  public:
    explicit ChildProcess(const std::vector<std::string>& argv);
    ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// Reads stdout until a line equal to `line` arrives or the child exits; true if it arrived.
    bool waitForLine(const std::string& line, int timeoutMs);
    void kill(int signal);
    /// Waits for the child to end and reads the rest of its stdout.
    ProcessResult wait();
    [[nodiscard]] const std::string& output() const { return m_out; }
    [[nodiscard]] pid_t pid() const { return m_pid; }
    /// Whether the child has ended (reaped without blocking; wait() then gives its result).
    bool exited();

  private:
    pid_t m_pid = -1;
    int m_outFd = -1;
    std::string m_out;
    bool m_waited = false;
    ProcessResult m_result;
};

/// The whole content of a file; throws std::runtime_error when it cannot be read.
std::string readFile(const std::string& path);
/// The same, as bytes.
std::vector<std::uint8_t> readBytes(const std::string& path);

/// Whether `program` is an executable in a directory of PATH.
bool onPath(const std::string& program);

/// The pilots' forms in this source tree (schemas/forms/*.json), sorted.
std::vector<std::string> pilotFormFiles();
inline std::size_t pilotFormCount() {
    return pilotFormFiles().size();
}

/// Path of a program built by this project.
std::string binary(const std::string& name);

/// RFC 4180 CSV (quoted fields with "" inside, CRLF or LF line ends) as rows of fields.
std::vector<std::vector<std::string>> parseCsv(const std::string& text);

}  // namespace veld::test
