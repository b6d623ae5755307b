// Atomic writes over the platform's File and replaceFile: the same on every system.
#include <veld/platform/files.hpp>

namespace veld::platform {

Result<AtomicFile> AtomicFile::begin(const std::string& path, Access access, bool durable) {
    auto file = File::create(path + ".part", File::Create::Truncate, access);
    if (!file) return file.error();
    return AtomicFile(std::move(file.value()), path, durable);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_file(std::move(other.m_file)),
      m_target(std::move(other.m_target)),
      m_durable(other.m_durable),
      m_done(other.m_done) {
    other.m_done = true;  // the moved-from object owns no .part
}

AtomicFile::~AtomicFile() {
    if (m_done) return;
    const std::string part = m_file.path();
    (void)m_file.close();
    (void)removeFile(part);
}

Status AtomicFile::commit() {
    const std::string part = m_file.path();
    Status s = m_durable ? m_file.sync() : Status{};
    if (s) s = m_file.close();
    if (s && m_durable) s = replaceFile(part, m_target);
    if (s && !m_durable) {
        std::error_code ec;
        std::filesystem::rename(fsPath(part), fsPath(m_target), ec);
        if (ec) s = makeError(ErrorCode::Io, "cannot rename " + part + ": " + ec.message());
    }
    if (!s) {
        (void)m_file.close();
        (void)removeFile(part);
    }
    m_done = true;
    return s;
}

Status writeFileAtomically(const std::string& path, std::string_view bytes, Access access) {
    auto file = AtomicFile::begin(path, access);
    if (!file) return file.error();
    if (auto s = file->write(bytes); !s) return s;
    return file->commit();
}

Result<std::string> readFile(const std::string& path, std::size_t limit) {
    auto file = File::openRead(path);
    if (!file) return file.error();
    std::string text;
    char buf[8192];
    while (text.size() <= limit) {
        auto n = file->read(buf, sizeof buf);
        if (!n) return n.error();
        if (n.value() == 0) break;
        text.append(buf, n.value());
    }
    if (text.size() > limit + 1) text.resize(limit + 1);
    return text;
}

}  // namespace veld::platform
