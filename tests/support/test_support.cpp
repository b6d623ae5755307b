#include "support/test_support.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace veld::test {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/veld-test-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    m_path = buf.data();
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

RecordContent sampleContent(int n, const std::string& formId) {
    RecordContent c;
    c.formId = formId;
    c.formVersion = 1 + static_cast<std::uint32_t>(n % 3);
    c.answers.push_back({"age", std::int64_t{20 + n % 50}});
    c.answers.push_back(
        {"name_child", std::string("Kind ") + std::to_string(n) + " ğüşçö ابت ሰላም"});
    c.answers.push_back({"income", DecimalAnswer{1234.5 + n, std::to_string(1234.5 + n)}});
    c.answers.push_back({"consent", n % 2 == 0});
    c.answers.push_back({"school", ChoiceAnswer{"school_" + std::to_string(n % 7), {}}});
    c.answers.push_back({"languages", ChoicesAnswer{{"nl", "tr", "other"}, "Tigrinya"}});
    c.answers.push_back({"visit_date", DateAnswer{20000 + n % 5000}});
    c.answers.push_back({"visit_time", TimeAnswer{(n % 86400) * 1000}});
    c.answers.push_back({"signed_at", DateTimeAnswer{1764000000000 + n, 60}});
    c.answers.push_back({"signature", SignatureAnswer{{{{1, 2}, {3, 4}}, {{5, 6}}}, 640, 200}});
    c.answers.push_back({"bsn_pseudonym", PseudonymAnswer{std::vector<std::uint8_t>(
                                                              32, static_cast<std::uint8_t>(n)),
                                                          "project-key-1", "bsn-hmac-sha256"}});
    Repeat children{"children", {}};
    for (int i = 0; i < n % 3; ++i) {
        RepeatInstance inst;
        inst.answers.push_back({"child_age", std::int64_t{4 + i}});
        inst.answers.push_back({"child_school", ChoiceAnswer{"vmbo", {}}});
        children.instances.push_back(std::move(inst));
    }
    c.repeats.push_back(std::move(children));
    c.paradata.language = "nl";
    c.paradata.appVersion = "test";
    c.paradata.startedUtcMs = 1764000000000 + n;
    c.paradata.timings.push_back({"age", static_cast<std::uint32_t>(1000 + n), 1});
    return c;
}

namespace {

void sortLevel(std::vector<Answer>& answers, std::vector<Repeat>& repeats) {
    std::sort(answers.begin(), answers.end(),
              [](const Answer& a, const Answer& b) { return a.name < b.name; });
    std::sort(repeats.begin(), repeats.end(),
              [](const Repeat& a, const Repeat& b) { return a.name < b.name; });
    for (auto& r : repeats) {
        for (auto& inst : r.instances)
            sortLevel(inst.answers, inst.repeats);
    }
}

std::string readAll(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    return out;
}

pid_t spawn(const std::vector<std::string>& argv, int outFd, int errFd,
            const std::vector<std::string>& extraEnv = {}) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, outFd, 1);
    if (errFd >= 0) posix_spawn_file_actions_adddup2(&actions, errFd, 2);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> env;
    for (char** e = environ; *e; ++e)
        env.push_back(*e);
    for (const auto& e : extraEnv)
        env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
    return pid;
}

ProcessResult decodeStatus(int status) {
    ProcessResult r;
    if (WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

}  // namespace

RecordContent normalized(RecordContent content) {
    sortLevel(content.answers, content.repeats);
    std::sort(content.paradata.timings.begin(), content.paradata.timings.end(),
              [](const QuestionTiming& a, const QuestionTiming& b) { return a.name < b.name; });
    return content;
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::uint8_t> readBytes(const std::string& path) {
    const std::string text = readFile(path);
    return {text.begin(), text.end()};
}

bool onPath(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = dirs.substr(start, end - start);
        if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
        start = end + 1;
    }
    return false;
}

std::string binary(const std::string& name) {
    return std::string(VELD_BIN_DIR) + "/" + name;
}

ProcessResult runProcess(const std::vector<std::string>& argv) {
    int outPipe[2];
    int errPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = spawn(argv, outPipe[1], errPipe[1]);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    // Small outputs: read stderr after stdout; large ones would need poll().
    std::string out = readAll(outPipe[0]);
    std::string err = readAll(errPipe[0]);
    ::close(outPipe[0]);
    ::close(errPipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ProcessResult r = decodeStatus(status);
    r.out = std::move(out);
    r.err = std::move(err);
    return r;
}

void makeTestCertificate(const std::string& certPath, const std::string& keyPath) {
    const auto made = runProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                  "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                                  "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", keyPath,
                                  "-out", certPath});
    if (made.exitCode != 0) throw std::runtime_error("openssl req: " + made.err);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
    int outPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    m_pid = spawn(argv, outPipe[1], -1);
    ::close(outPipe[1]);
    m_outFd = outPipe[0];
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options) {
    int outPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    int errFd = -1;
    if (!options.errFile.empty()) {
        errFd = ::open(options.errFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (errFd < 0) throw std::runtime_error("cannot open " + options.errFile);
    }
    m_pid = spawn(argv, outPipe[1], errFd, options.env);
    ::close(outPipe[1]);
    if (errFd >= 0) ::close(errFd);
    m_outFd = outPipe[0];
}

bool ChildProcess::exited() {
    if (m_waited) return true;
    int status = 0;
    pid_t r = -1;
    do {
        r = waitpid(m_pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != m_pid) return false;
    m_out += readAll(m_outFd);
    m_waited = true;
    m_result = decodeStatus(status);
    m_result.out = m_out;
    return true;
}

ChildProcess::~ChildProcess() {
    if (!m_waited) {
        kill(SIGKILL);
        (void)wait();
    }
    if (m_outFd >= 0) ::close(m_outFd);
}

bool ChildProcess::waitForLine(const std::string& line, int timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        if (m_out.find(line + "\n") != std::string::npos) return true;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return false;
        pollfd p{m_outFd, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        char buf[4096];
        ssize_t n = ::read(m_outFd, buf, sizeof buf);
        if (n <= 0) return m_out.find(line + "\n") != std::string::npos;
        m_out.append(buf, static_cast<std::size_t>(n));
    }
}

void ChildProcess::kill(int signal) {
    if (m_pid > 0 && !m_waited) ::kill(m_pid, signal);
}

ProcessResult ChildProcess::wait() {
    if (m_waited) return m_result;
    m_out += readAll(m_outFd);
    int status = 0;
    while (waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_waited = true;
    m_result = decodeStatus(status);
    m_result.out = m_out;
    return m_result;
}

std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false;
    bool any = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            any = true;
        } else if (c == '\n') {
            row.push_back(std::move(field));
            field.clear();
            rows.push_back(std::move(row));
            row.clear();
            any = false;
        } else if (c != '\r') {
            field += c;
            any = true;
        }
    }
    if (any) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<std::string> pilotFormFiles() {
    std::vector<std::string> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::string(VELD_SOURCE_DIR) + "/schemas/forms")) {
        if (entry.path().extension() == ".json") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace veld::test
