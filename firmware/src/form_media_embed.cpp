// Reading the media files a form's labels name into the compiled form. The form compiled from
// JSON is copied field by field (FlatBuffers reflection, against the form schema Veld was built
// with) into a new buffer whose `media` holds the files, sorted by name.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>

#include <veld/fb/form_generated.h>
#include <veld/form_media.hpp>
#include <veld/form_media_files.hpp>
#include <veld/platform/files.hpp>

namespace veld::forms {

extern const char* const kFormSchemaText;

namespace {

namespace fs = std::filesystem;

struct Entry {
    std::string name;
    fb::MediaKind kind = fb::MediaKind::Audio;
    std::string digest;
    std::vector<std::uint8_t> data;
};

// The form schema as reflection data (a binary schema), built once.
const reflection::Schema& formSchema() {
    static const std::vector<std::uint8_t> bfbs = [] {
        flatbuffers::Parser parser;
        parser.Parse(kFormSchemaText, nullptr, "form.fbs");
        parser.Serialize();
        const auto* p = parser.builder_.GetBufferPointer();
        return std::vector<std::uint8_t>(p, p + parser.builder_.GetSize());
    }();
    return *reflection::GetSchema(bfbs.data());
}

const reflection::Object& objectOf(const reflection::Schema& schema, const reflection::Field& f) {
    return *schema.objects()->Get(static_cast<flatbuffers::uoffset_t>(f.type()->index()));
}

// A copy of the form with `media` as its media (FlatBuffers' CopyTable for every other field).
std::vector<std::uint8_t> withMedia(std::span<const std::uint8_t> binary,
                                    const std::vector<Entry>& media) {
    const auto& schema = formSchema();
    const auto& def = *schema.root_table();
    const auto& form = *flatbuffers::GetAnyRoot(binary.data());
    std::size_t bytes = binary.size() + 1024;
    for (const auto& m : media)
        bytes += m.data.size() + m.name.size() + 128;
    flatbuffers::FlatBufferBuilder b(bytes);
    std::vector<flatbuffers::Offset<fb::MediaFile>> files;
    for (const auto& m : media) {
        files.push_back(fb::CreateMediaFile(b, b.CreateString(m.name), m.kind,
                                            b.CreateString(m.digest), b.CreateVector(m.data)));
    }
    const auto mediaVector = b.CreateVectorOfSortedTables(&files);
    std::vector<std::pair<flatbuffers::voffset_t, flatbuffers::uoffset_t>> offsets;
    for (const auto* field : *def.fields()) {
        const auto voff = field->offset();
        if (field->name()->string_view() == "media") {
            if (!media.empty()) offsets.emplace_back(voff, mediaVector.o);
            continue;
        }
        if (!form.CheckField(voff) || !form.GetPointer<const void*>(voff)) continue;
        const auto type = field->type()->base_type();
        if (type == reflection::String) {
            offsets.emplace_back(voff, b.CreateString(flatbuffers::GetFieldS(form, *field)).o);
        } else if (type == reflection::Obj) {
            const auto& sub = objectOf(schema, *field);
            if (sub.is_struct()) continue;  // inline: copied with the scalars
            offsets.emplace_back(
                voff,
                flatbuffers::CopyTable(b, schema, sub, *flatbuffers::GetFieldT(form, *field)).o);
        } else if (type == reflection::Vector) {
            const auto element = field->type()->element();
            if (element == reflection::Obj && !objectOf(schema, *field).is_struct()) {
                const auto& sub = objectOf(schema, *field);
                const auto* vec =
                    flatbuffers::GetFieldV<flatbuffers::Offset<flatbuffers::Table>>(form, *field);
                std::vector<flatbuffers::Offset<const flatbuffers::Table*>> copies;
                for (flatbuffers::uoffset_t i = 0; i < vec->size(); ++i)
                    copies.push_back(flatbuffers::CopyTable(b, schema, sub, *vec->Get(i)));
                offsets.emplace_back(voff, b.CreateVector(copies).o);
            } else if (element == reflection::String) {
                const auto* vec =
                    flatbuffers::GetFieldV<flatbuffers::Offset<flatbuffers::String>>(form, *field);
                std::vector<flatbuffers::Offset<flatbuffers::String>> copies;
                for (flatbuffers::uoffset_t i = 0; i < vec->size(); ++i)
                    copies.push_back(b.CreateString(vec->Get(i)));
                offsets.emplace_back(voff, b.CreateVector(copies).o);
            } else {
                // Scalars or structs: their bytes as they are.
                const auto* vec = flatbuffers::GetFieldAnyV(form, *field);
                const auto size =
                    element == reflection::Obj
                        ? static_cast<std::size_t>(objectOf(schema, *field).bytesize())
                        : static_cast<std::size_t>(flatbuffers::GetTypeSize(element));
                b.StartVector(vec->size(), size);
                b.PushBytes(vec->Data(), vec->size() * size);
                offsets.emplace_back(voff, b.EndVector(vec->size()));
            }
        }
    }
    const auto start = b.StartTable();
    for (const auto& [voff, off] : offsets)
        b.AddOffset(voff, flatbuffers::Offset<void>(off));
    for (const auto* field : *def.fields()) {
        const auto type = field->type()->base_type();
        std::size_t size = 0;
        if (flatbuffers::IsScalar(type)) {
            size = flatbuffers::GetTypeSize(type);
        } else if (type == reflection::Obj && objectOf(schema, *field).is_struct()) {
            size = static_cast<std::size_t>(objectOf(schema, *field).bytesize());
        } else {
            continue;
        }
        if (!form.CheckField(field->offset())) continue;
        b.Align(size);
        b.PushBytes(form.GetStruct<const std::uint8_t*>(field->offset()), size);
        b.TrackField(field->offset(), b.GetSize());
    }
    b.Finish(flatbuffers::Offset<flatbuffers::Table>(b.EndTable(start)), fb::FormIdentifier());
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

FormProblem problem(bool error, const std::string& file, const std::string& item,
                    std::string message) {
    FormProblem p;
    p.severity = error ? FormProblem::Severity::Error : FormProblem::Severity::Warning;
    p.file = file;
    p.item = item;
    p.message = std::move(message);
    return p;
}

}  // namespace

std::vector<FormProblem> embedMediaFiles(std::vector<std::uint8_t>& binary,
                                         const std::string& folder, const std::string& fileName,
                                         std::vector<std::string>& reported) {
    std::vector<FormProblem> out;
    const auto* form = fb::GetForm(binary.data());
    const auto uses = mediaUses(*form);
    std::map<std::string, Entry> entries;
    if (const auto* media = form->media()) {
        for (const auto* file : *media) {
            if (!file->name()) continue;
            const auto bytes = mediaBytes(*file);
            entries[file->name()->str()] = {file->name()->str(),
                                            file->kind(),
                                            file->digest() ? file->digest()->str() : "",
                                            {bytes.begin(), bytes.end()}};
        }
    }
    const std::size_t carried = entries.size();
    std::set<std::string> named;
    std::size_t added = 0;
    for (const auto& use : uses) {
        if (!named.insert(use.name).second || entries.count(use.name)) continue;
        // A name that is not a plain file name is the form checks' to report: never a path.
        if (!validMediaName(use.name)) continue;
        const fs::path path = platform::fsPath(folder) / platform::fsPath(use.name);
        const std::string shown =
            platform::utf8Path(platform::fsPath(folder).filename() / platform::fsPath(use.name));
        const auto fail = [&](const std::string& why) {
            out.push_back(problem(true, fileName, use.item,
                                  use.describe() + ": media file '" + shown + "' " + why));
            reported.push_back(use.name);
        };
        std::error_code ec;
        if (!fs::is_regular_file(path, ec)) {
            fail("is missing (media files are read from " +
                 platform::utf8Path(platform::fsPath(folder).filename()) +
                 "/ next to the form file)");
            continue;
        }
        const auto size = fs::file_size(path, ec);
        if (auto big = mediaSizeProblem(use.image, ec ? 0 : size); !big.empty()) {
            fail(big);
            continue;
        }
        std::ifstream in(path, std::ios::binary);
        std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)),
                                       std::istreambuf_iterator<char>());
        if (!in && !in.eof()) {
            fail("cannot be read");
            continue;
        }
        if (auto why = mediaDataProblem(use.image, data, true); !why.empty()) {
            fail(why);
            continue;
        }
        const auto digest = mediaDigest(data);
        entries[use.name] = {use.name, use.image ? fb::MediaKind::Image : fb::MediaKind::Audio,
                             digest, std::move(data)};
        ++added;
    }
    // Files nobody names are not carried: say so, they may be misspelt.
    std::error_code ec;
    if (fs::is_directory(platform::fsPath(folder), ec)) {
        std::vector<std::string> unused;
        for (const auto& e : fs::directory_iterator(platform::fsPath(folder), ec)) {
            const auto name = platform::utf8Path(e.path().filename());
            if (e.is_regular_file() && !named.count(name)) unused.push_back(name);
        }
        std::sort(unused.begin(), unused.end());
        for (const auto& name : unused)
            out.push_back(problem(false, fileName, "",
                                  "media file '" +
                                      platform::utf8Path(platform::fsPath(folder).filename() /
                                                         platform::fsPath(name)) +
                                      "' is named by no label; it is not included"));
    }
    if (added == 0 && entries.size() == carried) return out;
    std::vector<Entry> sorted;
    for (auto& [name, e] : entries)
        sorted.push_back(std::move(e));
    binary = withMedia(binary, sorted);
    return out;
}

}  // namespace veld::forms
