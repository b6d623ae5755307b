#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include <veld/fb/admin_generated.h>
#include <veld/fb/form_generated.h>
#include <veld/form.hpp>
#include <veld/platform/files.hpp>
#include <veld/sync/protocol.hpp>
#include <veld/sync/records_file.hpp>

namespace veld::sync {

namespace {

using Builder = flatbuffers::FlatBufferBuilder;

Error corrupt(const std::string& path, const std::string& what) {
    return makeError(ErrorCode::Corrupt, path + " is not a sound records file: " + what);
}

fb::Uuid toFb(const Uuid& id) {
    return fb::Uuid(flatbuffers::span<const std::uint8_t, 16>(id.bytes.data(), 16));
}

Uuid fromFb(const fb::Uuid* id) {
    Uuid out;
    std::copy_n(id->bytes()->data(), 16, out.bytes.begin());
    return out;
}

// The file being written: `PATH.part` until it is complete, removed if it never is.
class FrameWriter {
  public:
    explicit FrameWriter(std::string path) : m_path(std::move(path)) {}

    Status open() {
        // Bodies of records that are not sealed hold answers: for the owner only.
        auto file = platform::AtomicFile::begin(m_path, platform::Access::Private);
        if (!file) return file.error();
        m_file.emplace(std::move(file.value()));
        return {};
    }

    // One frame: `b` finished size-prefixed with the records file identifier.
    Status write(Builder& b, flatbuffers::Offset<fb::AdminRecordsFrame> frame) {
        b.FinishSizePrefixed(frame, kRecordsFileIdentifier);
        if (auto s = m_file->write(std::span(b.GetBufferPointer(), b.GetSize())); !s) return s;
        b.Clear();
        return {};
    }

    // Flushed and renamed: under its final name the file is always whole.
    Status keep() { return m_file->commit(); }

  private:
    std::string m_path;
    std::optional<platform::AtomicFile> m_file;
};

// Reads a records file a frame at a time; each frame is verified before it is handed out.
class FrameReader {
  public:
    explicit FrameReader(std::string path) : m_path(std::move(path)) {}

    Status open() {
        auto file = platform::File::openRead(m_path);
        if (!file) {
            if (file.error().code == ErrorCode::NotFound)
                return makeError(ErrorCode::NotFound, "no file " + m_path);
            if (file.error().code == ErrorCode::InvalidArgument)
                return corrupt(m_path, "it is not a file");
            return file.error();
        }
        auto size = file->size();
        if (!size) return size.error();
        m_file = std::move(file.value());
        m_size = size.value();
        return {};
    }

    [[nodiscard]] bool atEnd() const { return m_offset == m_size; }

    // The next frame (valid until the next call); Corrupt when it is cut short or unsound.
    Result<const fb::AdminRecordsFrame*> next() {
        constexpr std::size_t kPrefix = sizeof(flatbuffers::uoffset_t);
        const std::uint64_t left = m_size - m_offset;
        if (left < kPrefix) return corrupt(m_path, "it is cut short");
        std::uint8_t prefix[kPrefix];
        if (auto s = readAll(prefix, kPrefix); !s) return s.error();
        const std::uint64_t size = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(prefix);
        // Checked before anything is allocated: a hostile length cannot make us take memory.
        if (size > kMaxRecordsFrameBytes - kPrefix)
            return corrupt(m_path, "a frame is larger than any records file holds");
        if (size > left - kPrefix) return corrupt(m_path, "it is cut short");
        m_buffer.resize(kPrefix + static_cast<std::size_t>(size));
        std::copy_n(prefix, kPrefix, m_buffer.begin());
        if (auto s = readAll(m_buffer.data() + kPrefix, static_cast<std::size_t>(size)); !s)
            return s.error();
        if (m_buffer.size() < kPrefix + 8 ||
            !flatbuffers::BufferHasIdentifier(m_buffer.data(), kRecordsFileIdentifier, true))
            return corrupt(m_path, "a frame without the records file identifier");
        flatbuffers::Verifier verifier(m_buffer.data(), m_buffer.size(), 64, 1000000);
        if (!verifier.VerifySizePrefixedBuffer<fb::AdminRecordsFrame>(kRecordsFileIdentifier))
            return corrupt(m_path, "a frame fails the FlatBuffers verifier");
        const auto* frame =
            flatbuffers::GetSizePrefixedRoot<fb::AdminRecordsFrame>(m_buffer.data());
        // The Verifier accepts a union whose type is set but whose value is missing.
        if (frame->part_type() == fb::AdminRecordsPart::NONE || !frame->part())
            return corrupt(m_path, "an empty frame");
        return frame;
    }

  private:
    Status readAll(std::uint8_t* to, std::size_t bytes) {
        while (bytes > 0) {
            auto n = m_file.read(to, bytes);
            if (!n) return n.error();
            // The file shrank since it was opened.
            if (n.value() == 0) return corrupt(m_path, "it is cut short");
            to += n.value();
            bytes -= n.value();
            m_offset += n.value();
        }
        return {};
    }

    std::string m_path;
    platform::File m_file;
    std::uint64_t m_size = 0;
    std::uint64_t m_offset = 0;
    std::vector<std::uint8_t> m_buffer;
};

// A record of the file as the exporter takes it, after the checks a collector's own row needs
// no more of.
Result<CurrentRecord> entryRecord(const std::string& path, const std::string& formId,
                                  const fb::AdminRecordsEntry& e) {
    CurrentRecord rec;
    rec.recordId = fromFb(e.record_id());
    rec.deviceId = fromFb(e.device_id());
    rec.formVersion = e.form_version();
    rec.hlc = HlcTimestamp{e.hlc()};
    const auto review = reviewStateFromCode(e.review());
    if (!review) return corrupt(path, "a record with an unknown review state");
    rec.review = *review;
    if (e.review_history()) {
        for (const auto* change : *e.review_history()) {
            const auto state = reviewStateFromCode(change->state());
            if (!state) return corrupt(path, "a review change with an unknown state");
            rec.reviewHistory.push_back(
                {*state, change->comment() ? change->comment()->str() : std::string(),
                 change->utc_ms(), change->actor() ? change->actor()->str() : std::string(),
                 change->revision_hlc()});
        }
    }
    rec.chainSeq = e.chain_seq();
    if (e.chain_link()) rec.chainLink.assign(e.chain_link()->begin(), e.chain_link()->end());
    rec.damaged = e.damaged();
    rec.clockFlagged = e.clock_flagged();
    if (e.body()) {
        if (e.body()->size() > kMaxMessageBytes)
            return corrupt(path, "a record body larger than any device sends");
        rec.body.assign(e.body()->begin(), e.body()->end());
        // A sound body must be the record its entry says, of this file's form (one that does
        // not verify is exported as unreadable, as at the collector).
        if (auto header = inspectRecord(rec.body);
            header && (header->id != rec.recordId || header->deviceId != rec.deviceId ||
                       header->hlc != rec.hlc || header->formId != formId ||
                       header->formVersion != rec.formVersion)) {
            return corrupt(path, "a record's body does not belong to its entry");
        }
    }
    return rec;
}

// As the collector's query (sync/src/sqlite/sqlite_exports.cpp): the current revision's form
// version, its HLC against the bounds' first HLC, the review state.
bool matches(const RecordQuery& q, const CurrentRecord& rec) {
    const auto hlcOf = [](std::int64_t ms) {
        return HlcTimestamp::make(static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)), 0)
            .value;
    };
    if (q.formVersion && rec.formVersion != *q.formVersion) return false;
    if (q.fromUtcMs && rec.hlc.value < hlcOf(*q.fromUtcMs)) return false;
    if (q.untilUtcMs && rec.hlc.value >= hlcOf(*q.untilUtcMs)) return false;
    if (q.review && rec.review != *q.review) return false;
    return true;
}

}  // namespace

Result<ExportResult> writeRecordsFile(ExportSource& source, const ExportOptions& options) {
    auto published = source.publishedForms();
    if (!published) return published.error();
    std::vector<const PublishedFormInfo*> versions;
    for (const auto& f : published.value()) {
        if (f.formId == options.formId) versions.push_back(&f);
    }
    if (versions.empty()) {
        return makeError(ErrorCode::NotFound,
                         "no form '" + options.formId + "' is published at this collector");
    }
    RecordQuery query = options.filter;
    query.formId = options.formId;
    auto total = source.countRecords(query);
    if (!total) return total.error();
    if (options.progress) options.progress(0, total.value());

    const std::string path = options.directory + "/" + options.formId + ".records";
    FrameWriter writer(path);
    if (auto s = writer.open(); !s) return s.error();
    Builder b(1 << 16);
    {
        std::vector<flatbuffers::Offset<fb::AdminForm>> forms;
        for (const auto* f : versions) {
            forms.push_back(fb::CreateAdminForm(b, b.CreateString(f->formId), f->version,
                                                b.CreateString(f->pilot),
                                                b.CreateVector(f->binary)));
        }
        auto formVec = b.CreateVector(forms);
        auto header = fb::CreateAdminRecordsHeader(b, kRecordsFileVersion,
                                                   b.CreateString(options.formId), formVec);
        if (auto s =
                writer.write(b, fb::CreateAdminRecordsFrame(
                                    b, fb::AdminRecordsPart::AdminRecordsHeader, header.Union()));
            !s)
            return s.error();
    }
    ExportResult result;
    std::int64_t done = 0;
    auto s = source.forEachRecord(
        query, 1, [](int) -> Status { return {}; },
        [&](const CurrentRecord& rec) -> Status {
            if (options.cancel && options.cancel->load())
                return makeError(ErrorCode::WrongState, "the export was cancelled");
            const fb::Uuid recordId = toFb(rec.recordId);
            const fb::Uuid deviceId = toFb(rec.deviceId);
            std::vector<flatbuffers::Offset<fb::AdminReviewChange>> history;
            for (const auto& change : rec.reviewHistory) {
                history.push_back(fb::CreateAdminReviewChange(
                    b, static_cast<std::uint8_t>(change.state), b.CreateString(change.comment),
                    change.utcMs, b.CreateString(change.actor), change.revisionHlc));
            }
            auto entry = fb::CreateAdminRecordsEntry(
                b, &recordId, &deviceId, rec.formVersion, rec.hlc.value, b.CreateVector(rec.body),
                rec.damaged, rec.clockFlagged, static_cast<std::uint8_t>(rec.review),
                history.empty() ? 0 : b.CreateVector(history), rec.chainSeq,
                rec.chainLink.empty() ? 0 : b.CreateVector(rec.chainLink));
            if (auto w =
                    writer.write(b, fb::CreateAdminRecordsFrame(
                                        b, fb::AdminRecordsPart::AdminRecordsEntry, entry.Union()));
                !w)
                return w;
            if (rec.damaged || rec.body.empty()) ++result.unreadable;
            if (++done % 1000 == 0 && options.progress) options.progress(done, total.value());
            return {};
        });
    if (!s) return s.error();
    auto end = fb::CreateAdminRecordsEnd(b, done);
    if (auto w = writer.write(
            b, fb::CreateAdminRecordsFrame(b, fb::AdminRecordsPart::AdminRecordsEnd, end.Union()));
        !w)
        return w.error();
    if (auto k = writer.keep(); !k) return k.error();
    result.files.push_back(path);
    result.records = done;
    if (options.progress) options.progress(done, total.value());
    return result;
}

Result<std::unique_ptr<RecordsFile>> RecordsFile::open(const std::string& path) {
    std::unique_ptr<RecordsFile> file(new RecordsFile());
    file->m_path = path;
    FrameReader reader(path);
    if (auto s = reader.open(); !s) return s.error();
    if (reader.atEnd()) return corrupt(path, "it is empty");
    auto first = reader.next();
    if (!first) return first.error();
    const auto* header = first.value()->part_as_AdminRecordsHeader();
    if (!header) return corrupt(path, "it does not start with a header");
    if (header->format_version() != kRecordsFileVersion) {
        return corrupt(path, "it is of layout version " + std::to_string(header->format_version()) +
                                 ", not " + std::to_string(kRecordsFileVersion));
    }
    file->m_formId = header->form_id()->str();
    if (!header->forms() || header->forms()->size() == 0)
        return corrupt(path, "it holds no form definition");
    for (const auto* f : *header->forms()) {
        PublishedFormInfo info;
        info.formId = f->form_id() ? f->form_id()->str() : std::string();
        info.version = f->version();
        info.pilot = f->pilot() ? f->pilot()->str() : std::string();
        if (f->binary()) info.binary.assign(f->binary()->begin(), f->binary()->end());
        // The exporter reads columns from these: each must be a sound compiled form, of the
        // form and version it says it is.
        const auto problems = forms::checkFormBinary(info.binary, info.formId);
        if (std::any_of(problems.begin(), problems.end(), [](const auto& p) {
                return p.severity == forms::FormProblem::Severity::Error;
            }))
            return corrupt(path, "a form definition in it is not sound");
        const fb::Form* form = fb::GetForm(info.binary.data());
        if (info.formId != file->m_formId || form->id()->string_view() != info.formId ||
            form->version() != info.version)
            return corrupt(path, "a form definition in it is not of its form");
        file->m_forms.push_back(std::move(info));
    }
    if (auto s = file->scan(nullptr, {}); !s) return s.error();
    return file;
}

Result<std::vector<PublishedFormInfo>> RecordsFile::publishedForms() {
    return m_forms;
}

Result<std::int64_t> RecordsFile::countRecords(const RecordQuery& query) {
    std::int64_t count = 0;
    auto s = scan(&query, [&count](const CurrentRecord&) -> Status {
        ++count;
        return {};
    });
    if (!s) return s.error();
    return count;
}

Status RecordsFile::forEachRecord(const RecordQuery& query, int passes,
                                  const std::function<Status(int pass)>& startPass,
                                  const std::function<Status(const CurrentRecord&)>& visit) {
    for (int pass = 0; pass < passes; ++pass) {
        if (auto s = startPass(pass); !s) return s;
        if (auto s = scan(&query, visit); !s) return s;
    }
    return {};
}

Status RecordsFile::scan(const RecordQuery* query,
                         const std::function<Status(const CurrentRecord&)>& visit) {
    FrameReader reader(m_path);
    if (auto s = reader.open(); !s) return s;
    if (reader.atEnd()) return corrupt(m_path, "it is empty");
    if (auto header = reader.next(); !header || !header.value()->part_as_AdminRecordsHeader())
        return header ? corrupt(m_path, "it does not start with a header") : header.error();
    std::int64_t count = 0;
    std::optional<Uuid> previous;
    for (;;) {
        if (reader.atEnd()) return corrupt(m_path, "it is cut short (no end)");
        auto frame = reader.next();
        if (!frame) return frame.error();
        if (const auto* end = frame.value()->part_as_AdminRecordsEnd()) {
            if (end->records() != count)
                return corrupt(m_path, "its end does not count the records it holds");
            if (!reader.atEnd()) return corrupt(m_path, "there is more after its end");
            // Read once at open() to the end: a pass finding another count was changed since.
            if (m_records != count && query != nullptr)
                return corrupt(m_path, "it changed while it was read");
            m_records = count;
            return {};
        }
        const auto* entry = frame.value()->part_as_AdminRecordsEntry();
        if (!entry) return corrupt(m_path, "a second header");
        auto rec = entryRecord(m_path, m_formId, *entry);
        if (!rec) return rec.error();
        // In record id order, each once, as the collector hands them out.
        if (previous && !(*previous < rec->recordId))
            return corrupt(m_path, "its records are out of order or repeated");
        previous = rec->recordId;
        ++count;
        if (query == nullptr || !visit) continue;
        if (query->formId != m_formId || !matches(*query, rec.value())) continue;
        if (auto s = visit(rec.value()); !s) return s;
    }
}

}  // namespace veld::sync
