#include "workbook_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_map>

#include <pugixml.hpp>
#include <unzip.h>

#include <veld/expression.hpp>
#include <veld/platform/files.hpp>

namespace veld::xlsform {

namespace {

constexpr std::string_view kOleSignature("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);

Error corrupt(std::string message) {
    return makeError(ErrorCode::Corrupt, std::move(message));
}

// --- the zip container, read from memory through minizip's I/O callbacks ---

struct MemoryFile {
    std::span<const std::uint8_t> bytes;
    std::uint64_t position = 0;
};

voidpf ZCALLBACK memOpen(voidpf opaque, const void* /*name*/, int /*mode*/) {
    auto* file = static_cast<MemoryFile*>(opaque);
    file->position = 0;
    return file;
}

uLong ZCALLBACK memRead(voidpf /*opaque*/, voidpf stream, void* buf, uLong size) {
    auto* file = static_cast<MemoryFile*>(stream);
    const std::uint64_t left =
        file->bytes.size() - std::min<std::uint64_t>(file->position, file->bytes.size());
    const std::uint64_t n = std::min<std::uint64_t>(size, left);
    if (n > 0) std::memcpy(buf, file->bytes.data() + file->position, n);
    file->position += n;
    return static_cast<uLong>(n);
}

uLong ZCALLBACK memWrite(voidpf, voidpf, const void*, uLong) {
    return 0;
}

ZPOS64_T ZCALLBACK memTell(voidpf /*opaque*/, voidpf stream) {
    return static_cast<MemoryFile*>(stream)->position;
}

long ZCALLBACK memSeek(voidpf /*opaque*/, voidpf stream, ZPOS64_T offset, int origin) {
    auto* file = static_cast<MemoryFile*>(stream);
    std::uint64_t base = 0;
    switch (origin) {
        case ZLIB_FILEFUNC_SEEK_SET:
            base = 0;
            break;
        case ZLIB_FILEFUNC_SEEK_CUR:
            base = file->position;
            break;
        case ZLIB_FILEFUNC_SEEK_END:
            base = file->bytes.size();
            break;
        default:
            return -1;
    }
    if (offset > file->bytes.size() || base + offset > file->bytes.size()) return -1;
    file->position = base + offset;
    return 0;
}

int ZCALLBACK memClose(voidpf, voidpf) {
    return 0;
}

int ZCALLBACK memError(voidpf, voidpf) {
    return 0;
}

class Zip {
  public:
    explicit Zip(std::span<const std::uint8_t> bytes) : m_file{bytes, 0} {
        zlib_filefunc64_def io{};
        io.zopen64_file = memOpen;
        io.zread_file = memRead;
        io.zwrite_file = memWrite;
        io.ztell64_file = memTell;
        io.zseek64_file = memSeek;
        io.zclose_file = memClose;
        io.zerror_file = memError;
        io.opaque = &m_file;
        m_zip = unzOpen2_64("workbook.xlsx", &io);
    }
    ~Zip() {
        if (m_zip) unzClose(m_zip);
    }
    Zip(const Zip&) = delete;
    Zip& operator=(const Zip&) = delete;

    [[nodiscard]] bool opened() const { return m_zip != nullptr; }

    [[nodiscard]] bool has(const std::string& name) const {
        return unzLocateFile(m_zip, name.c_str(), 2) == UNZ_OK;
    }

    // The unpacked content of part `name`, or nothing when there is no such part. Stops at
    // kMaxPartBytes whatever the zip claims the size is.
    Result<std::optional<std::string>> read(const std::string& name) {
        if (unzLocateFile(m_zip, name.c_str(), 2) != UNZ_OK) return std::optional<std::string>{};
        unz_file_info64 info{};
        if (unzGetCurrentFileInfo64(m_zip, &info, nullptr, 0, nullptr, 0, nullptr, 0) != UNZ_OK)
            return corrupt("the workbook is damaged: cannot read the entry of " + name);
        if (info.flag & 1u)
            return makeError(ErrorCode::InvalidArgument,
                             "the workbook is protected with a password; remove it in Excel "
                             "(File > Info > Protect Workbook)");
        if (info.uncompressed_size > kMaxPartBytes) return tooLarge(name);
        if (unzOpenCurrentFile(m_zip) != UNZ_OK)
            return corrupt("the workbook is damaged: cannot open " + name);
        std::string out;
        out.reserve(static_cast<std::size_t>(info.uncompressed_size));
        char buffer[65536];
        while (true) {
            const int n = unzReadCurrentFile(m_zip, buffer, sizeof buffer);
            if (n < 0) {
                unzCloseCurrentFile(m_zip);
                return corrupt("the workbook is damaged: cannot unpack " + name);
            }
            if (n == 0) break;
            if (out.size() + static_cast<std::size_t>(n) > kMaxPartBytes) {
                unzCloseCurrentFile(m_zip);
                return tooLarge(name);
            }
            out.append(buffer, static_cast<std::size_t>(n));
        }
        if (unzCloseCurrentFile(m_zip) != UNZ_OK)
            return corrupt("the workbook is damaged: " + name + " fails its checksum");
        return std::optional<std::string>(std::move(out));
    }

  private:
    static Error tooLarge(const std::string& name) {
        return makeError(ErrorCode::InvalidArgument,
                         "the workbook's part " + name + " is larger than " +
                             std::to_string(kMaxPartBytes >> 20) +
                             " MiB unpacked; a form is far smaller (is this the right file?)");
    }

    MemoryFile m_file;
    unzFile m_zip = nullptr;
};

// --- XML helpers: element names compared without their namespace prefix ---

std::string_view localName(const pugi::xml_node& node) {
    std::string_view name = node.name();
    const auto colon = name.find(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(const pugi::xml_node& node, std::string_view local) {
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
        if (c.type() == pugi::node_element && localName(c) == local) return c;
    }
    return {};
}

template <class F>
void eachChild(const pugi::xml_node& node, std::string_view local, F&& f) {
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
        if (c.type() == pugi::node_element && localName(c) == local) f(c);
    }
}

// An attribute by local name (`r:id` and `id` alike).
std::string_view attribute(const pugi::xml_node& node, std::string_view local) {
    for (auto a = node.first_attribute(); a; a = a.next_attribute()) {
        std::string_view name = a.name();
        const auto colon = name.find(':');
        if (colon != std::string_view::npos) name = name.substr(colon + 1);
        if (name == local) return a.value();
    }
    return {};
}

Result<pugi::xml_document*> parseXml(pugi::xml_document& doc, std::string& text,
                                     const std::string& part) {
    const auto result = doc.load_buffer_inplace(text.data(), text.size(),
                                                pugi::parse_default | pugi::parse_ws_pcdata_single,
                                                pugi::encoding_auto);
    if (!result)
        return corrupt("the workbook is damaged: " + part + " is not valid XML (" +
                       result.description() + ")");
    return &doc;
}

// The length of the UTF-8 sequence at `i`, or 0 when the bytes there are not one.
std::size_t utf8Length(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    const std::size_t len = c < 0x80                   ? 1
                            : (c >= 0xC2 && c <= 0xDF) ? 2
                            : (c >= 0xE0 && c <= 0xEF) ? 3
                            : (c >= 0xF0 && c <= 0xF4) ? 4
                                                       : 0;
    if (len == 0 || i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    }
    const unsigned char d = len > 1 ? byte(i + 1) : 0;
    if (len == 3 && ((c == 0xE0 && d < 0xA0) || (c == 0xED && d >= 0xA0))) return 0;
    if (len == 4 && ((c == 0xF0 && d < 0x90) || (c == 0xF4 && d >= 0x90))) return 0;
    return len;
}

// Replaces bytes that are not UTF-8 by U+FFFD, so every text the reader returns is UTF-8.
void makeUtf8(std::string& s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const std::size_t len = utf8Length(s, i);
        if (len == 0) break;
        i += len;
    }
    if (i == s.size()) return;
    std::string out(s, 0, i);
    while (i < s.size()) {
        const std::size_t len = utf8Length(s, i);
        if (len > 0) {
            out.append(s, i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    s = std::move(out);
}

void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// OOXML writes characters XML cannot hold as _xHHHH_ (_x000D_ for a carriage return).
std::string decodeEscapes(std::string_view text) {
    if (text.find("_x") == std::string_view::npos) return std::string(text);
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] == '_' && i + 7 <= text.size() && text[i + 1] == 'x' && text[i + 6] == '_') {
            std::uint32_t cp = 0;
            const auto* first = text.data() + i + 2;
            auto [end, ec] = std::from_chars(first, first + 4, cp, 16);
            if (ec == std::errc() && end == first + 4) {
                appendUtf8(out, cp);
                i += 7;
                continue;
            }
        }
        out += text[i++];
    }
    return out;
}

// The text of a shared string item or an inline string: its <t>, or its runs' <t>s joined
// (phonetic runs left out).
std::string stringItemText(const pugi::xml_node& item) {
    std::string out;
    for (auto c = item.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element) continue;
        const auto name = localName(c);
        if (name == "t") {
            out += c.child_value();
        } else if (name == "r") {
            if (const auto t = child(c, "t")) out += t.child_value();
        }
    }
    std::string decoded = decodeEscapes(out);
    makeUtf8(decoded);
    return decoded;
}

std::string formatNumber(std::string_view raw) {
    const std::string_view t = raw;
    double v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v))
        return std::string(raw);
    if (v == std::trunc(v) && std::fabs(v) < 1e15) {
        return std::to_string(static_cast<long long>(v));
    }
    char buffer[64];
    auto [p, e] = std::to_chars(buffer, buffer + sizeof buffer, v);
    if (e != std::errc()) return std::string(raw);
    return std::string(buffer, p);
}

// Excel's serial day numbers: day 0 is 1899-12-30 (1900 system) or 1904-01-01.
std::string formatDate(std::string_view raw, bool date1904) {
    double v = 0;
    auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
    if (ec != std::errc() || end != raw.data() + raw.size() || !std::isfinite(v) || v < 0 ||
        v > 2958465.0)
        return formatNumber(raw);
    const double day = std::floor(v);
    const auto seconds = static_cast<long long>(std::llround((v - day) * 86400.0));
    const auto days1970 = static_cast<std::int64_t>(day) - 25569 + (date1904 ? 1462 : 0);
    char time[16];
    std::snprintf(time, sizeof time, "%02lld:%02lld", seconds / 3600 % 24, seconds / 60 % 60);
    if (day == 0 && !date1904) return time;  // a time of day alone
    std::string out = expr::formatIsoDate(days1970);
    if (seconds != 0) out += std::string("T") + time;
    return out;
}

// Number formats that show a date or a time: the built-in ones, and custom codes with d, y or
// h outside quotes and brackets.
bool isDateFormatCode(std::string_view code) {
    bool quoted = false;
    int bracket = 0;
    for (std::size_t i = 0; i < code.size(); ++i) {
        const char c = code[i];
        if (c == '"') quoted = !quoted;
        if (quoted) continue;
        if (c == '\\') {
            ++i;
            continue;
        }
        if (c == '[') ++bracket;
        if (c == ']' && bracket > 0) --bracket;
        if (bracket > 0) continue;
        const char l = static_cast<char>(c | 0x20);
        if (l == 'd' || l == 'y' || l == 'h') return true;
    }
    return false;
}

bool isBuiltinDateFormat(unsigned id) {
    return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) ||
           (id >= 50 && id <= 58);
}

std::string directory(const std::string& part) {
    const auto slash = part.rfind('/');
    return slash == std::string::npos ? std::string() : part.substr(0, slash + 1);
}

// A relationship target resolved against the folder of the part that names it.
std::string resolve(const std::string& baseDir, std::string_view target) {
    std::string path =
        target.starts_with('/') ? std::string(target.substr(1)) : baseDir + std::string(target);
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto slash = std::min(path.find('/', start), path.size());
        const std::string part = path.substr(start, slash - start);
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        start = slash + 1;
    }
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : "/") + p;
    return out;
}

struct Relationship {
    std::string type;
    std::string target;
};

Result<std::unordered_map<std::string, Relationship>> readRelationships(Zip& zip,
                                                                        const std::string& part) {
    const std::string rels =
        directory(part) + "_rels/" + part.substr(directory(part).size()) + ".rels";
    auto text = zip.read(rels);
    if (!text) return text.error();
    std::unordered_map<std::string, Relationship> out;
    if (!*text) return out;
    pugi::xml_document doc;
    if (auto parsed = parseXml(doc, **text, rels); !parsed) return parsed.error();
    eachChild(child(doc, "Relationships"), "Relationship", [&](const pugi::xml_node& r) {
        out[std::string(attribute(r, "Id"))] = {
            std::string(attribute(r, "Type")),
            attribute(r, "TargetMode") == "External"
                ? std::string()
                : resolve(directory(part), attribute(r, "Target"))};
    });
    return out;
}

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class Reader {
  public:
    explicit Reader(Zip& zip) : m_zip(zip) {}

    Result<Workbook> run() {
        std::string workbookPart = "xl/workbook.xml";
        auto rootRels = readRelationships(m_zip, "");
        if (!rootRels) return rootRels.error();
        for (const auto& [id, r] : *rootRels) {
            if (endsWith(r.type, "/officeDocument") && !r.target.empty()) workbookPart = r.target;
        }
        auto text = m_zip.read(workbookPart);
        if (!text) return text.error();
        if (!*text) return notAWorkbook();
        pugi::xml_document doc;
        if (auto parsed = parseXml(doc, **text, workbookPart); !parsed) return parsed.error();
        const auto root = child(doc, "workbook");
        if (!root) return corrupt("the workbook is damaged: " + workbookPart + " has no workbook");
        if (const auto pr = child(root, "workbookPr")) {
            const auto v = attribute(pr, "date1904");
            m_date1904 = v == "1" || v == "true";
        }
        auto rels = readRelationships(m_zip, workbookPart);
        if (!rels) return rels.error();
        // Some writers leave the shared strings' relationship out; Excel still finds them.
        const bool namesStrings = std::any_of(rels->begin(), rels->end(), [](const auto& r) {
            return endsWith(r.second.type, "/sharedStrings");
        });
        if (!namesStrings) {
            if (Status s = readSharedStrings(directory(workbookPart) + "sharedStrings.xml"); !s)
                return s.error();
        }
        for (const auto& [id, r] : *rels) {
            if (endsWith(r.type, "/sharedStrings")) {
                if (Status s = readSharedStrings(r.target); !s) return s.error();
            } else if (endsWith(r.type, "/styles")) {
                if (Status s = readStyles(r.target); !s) return s.error();
            }
        }
        Workbook out;
        Status failure;
        eachChild(child(root, "sheets"), "sheet", [&](const pugi::xml_node& s) {
            if (!failure) return;
            Sheet sheet;
            sheet.name = decodeEscapes(attribute(s, "name"));
            makeUtf8(sheet.name);
            const auto rel = rels->find(std::string(attribute(s, "id")));
            // Chart sheets and dialog sheets have no cells a form needs.
            if (rel == rels->end() || !endsWith(rel->second.type, "/worksheet")) {
                out.sheets.push_back(std::move(sheet));
                return;
            }
            failure = readSheet(rel->second.target, sheet);
            out.sheets.push_back(std::move(sheet));
        });
        if (!failure) return failure.error();
        return out;
    }

  private:
    Error notAWorkbook() {
        if (m_zip.has("xl/workbook.bin"))
            return makeError(ErrorCode::InvalidArgument,
                             "this is a binary .xlsb workbook; save it as .xlsx (Excel Workbook)");
        if (m_zip.has("content.xml"))
            return makeError(ErrorCode::InvalidArgument,
                             "this is an OpenDocument spreadsheet (.ods); save it as .xlsx");
        return makeError(ErrorCode::InvalidArgument,
                         "this zip file is not an Excel workbook (it has no xl/workbook.xml)");
    }

    Status readSharedStrings(const std::string& part) {
        auto text = m_zip.read(part);
        if (!text) return text.error();
        if (!*text) return {};
        pugi::xml_document doc;
        if (auto parsed = parseXml(doc, **text, part); !parsed) return parsed.error();
        eachChild(child(doc, "sst"), "si",
                  [&](const pugi::xml_node& si) { m_strings.push_back(stringItemText(si)); });
        return {};
    }

    Status readStyles(const std::string& part) {
        auto text = m_zip.read(part);
        if (!text) return text.error();
        if (!*text) return {};
        pugi::xml_document doc;
        if (auto parsed = parseXml(doc, **text, part); !parsed) return parsed.error();
        const auto root = child(doc, "styleSheet");
        std::map<unsigned, bool> custom;
        eachChild(child(root, "numFmts"), "numFmt", [&](const pugi::xml_node& f) {
            custom[static_cast<unsigned>(
                std::strtoul(std::string(attribute(f, "numFmtId")).c_str(), nullptr, 10))] =
                isDateFormatCode(attribute(f, "formatCode"));
        });
        eachChild(child(root, "cellXfs"), "xf", [&](const pugi::xml_node& xf) {
            const auto id = static_cast<unsigned>(
                std::strtoul(std::string(attribute(xf, "numFmtId")).c_str(), nullptr, 10));
            const auto c = custom.find(id);
            m_dateStyles.push_back(c != custom.end() ? c->second : isBuiltinDateFormat(id));
        });
        return {};
    }

    Status readSheet(const std::string& part, Sheet& sheet) {
        auto text = m_zip.read(part);
        if (!text) return text.error();
        if (!*text)
            return corrupt("the workbook is damaged: sheet '" + sheet.name + "' (" + part +
                           ") is missing");
        pugi::xml_document doc;
        if (auto parsed = parseXml(doc, **text, part); !parsed) return parsed.error();
        const auto data = child(child(doc, "worksheet"), "sheetData");
        std::uint32_t rowNumber = 0;
        Status failure;
        for (auto r = data.first_child(); r && failure; r = r.next_sibling()) {
            if (r.type() != pugi::node_element || localName(r) != "row") continue;
            const auto rAttr = attribute(r, "r");
            if (!rAttr.empty()) {
                std::uint32_t n = 0;
                auto [end, ec] = std::from_chars(rAttr.data(), rAttr.data() + rAttr.size(), n);
                if (ec != std::errc() || end != rAttr.data() + rAttr.size() || n == 0 ||
                    n > kMaxRows)
                    return badReference(sheet, rAttr);
                rowNumber = n;
            } else {
                ++rowNumber;
            }
            if (rowNumber > kMaxRows)
                return badReference(sheet, "row " + std::to_string(rowNumber));
            Row row;
            row.number = rowNumber;
            std::uint32_t column = 0;
            bool firstCell = true;
            for (auto c = r.first_child(); c; c = c.next_sibling()) {
                if (c.type() != pugi::node_element || localName(c) != "c") continue;
                const auto ref = attribute(c, "r");
                if (!ref.empty()) {
                    const auto parsed = parseCellReference(ref);
                    if (!parsed) return badReference(sheet, ref);
                    column = parsed->first;
                } else if (!firstCell) {
                    ++column;
                }
                firstCell = false;
                if (column >= kMaxColumns) return badReference(sheet, ref);
                Cell cell;
                cell.column = column;
                readCell(c, cell);
                if (cell.text.empty()) continue;
                if (++m_cells > kMaxCells)
                    return makeError(ErrorCode::InvalidArgument,
                                     "the workbook has more than " + std::to_string(kMaxCells) +
                                         " filled cells; a form is far smaller (is this the "
                                         "right file?)");
                row.cells.push_back(std::move(cell));
            }
            if (row.cells.empty()) continue;
            std::stable_sort(row.cells.begin(), row.cells.end(),
                             [](const Cell& a, const Cell& b) { return a.column < b.column; });
            sheet.rows.push_back(std::move(row));
        }
        // Rows (and cells) written out of order or twice: in order, the last one written wins.
        std::stable_sort(sheet.rows.begin(), sheet.rows.end(),
                         [](const Row& a, const Row& b) { return a.number < b.number; });
        std::vector<Row> merged;
        for (auto& row : sheet.rows) {
            if (!merged.empty() && merged.back().number == row.number) {
                for (auto& c : row.cells)
                    merged.back().cells.push_back(std::move(c));
                std::stable_sort(merged.back().cells.begin(), merged.back().cells.end(),
                                 [](const Cell& a, const Cell& b) { return a.column < b.column; });
            } else {
                merged.push_back(std::move(row));
            }
        }
        for (auto& row : merged) {
            std::vector<Cell> unique;
            for (auto& c : row.cells) {
                if (!unique.empty() && unique.back().column == c.column)
                    unique.back() = std::move(c);
                else
                    unique.push_back(std::move(c));
            }
            row.cells = std::move(unique);
        }
        sheet.rows = std::move(merged);
        return {};
    }

    void readCell(const pugi::xml_node& c, Cell& cell) {
        const auto type = attribute(c, "t");
        const auto v = child(c, "v");
        const std::string_view raw = v ? std::string_view(v.child_value()) : std::string_view();
        if (type == "s") {
            std::size_t index = 0;
            auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), index);
            if (ec == std::errc() && end == raw.data() + raw.size() && index < m_strings.size())
                cell.text = m_strings[index];
            cell.kind = CellKind::Text;
        } else if (type == "inlineStr") {
            if (const auto is = child(c, "is")) cell.text = stringItemText(is);
        } else if (type == "str" || type == "d") {
            cell.text = decodeEscapes(raw);
            makeUtf8(cell.text);
        } else if (type == "b") {
            cell.kind = CellKind::Boolean;
            if (!raw.empty()) cell.text = raw == "0" ? "FALSE" : "TRUE";
        } else if (type == "e") {
            cell.kind = CellKind::Error;
            cell.text = std::string(raw);
            makeUtf8(cell.text);
        } else if (!raw.empty()) {
            const auto style = static_cast<std::size_t>(
                std::strtoul(std::string(attribute(c, "s")).c_str(), nullptr, 10));
            if (style < m_dateStyles.size() && m_dateStyles[style]) {
                cell.kind = CellKind::Date;
                cell.text = formatDate(raw, m_date1904);
            } else {
                cell.kind = CellKind::Number;
                cell.text = formatNumber(raw);
            }
            makeUtf8(cell.text);
        }
    }

    static Error badReference(const Sheet& sheet, std::string_view ref) {
        std::string r(ref.substr(0, 32));
        makeUtf8(r);
        return corrupt("the workbook is damaged: sheet '" + sheet.name +
                       "' has a cell or row reference '" + r + "' outside Excel's grid");
    }

    Zip& m_zip;
    std::vector<std::string> m_strings;
    std::vector<bool> m_dateStyles;
    bool m_date1904 = false;
    std::size_t m_cells = 0;
};

bool containsUtf16(std::span<const std::uint8_t> bytes, std::string_view ascii) {
    std::string pattern;
    for (char c : ascii) {
        pattern += c;
        pattern += '\0';
    }
    const std::string_view hay(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return hay.find(pattern) != std::string_view::npos;
}

}  // namespace

Result<Workbook> readWorkbook(std::span<const std::uint8_t> bytes) {
    if (bytes.empty())
        return makeError(ErrorCode::InvalidArgument, "the file is empty (not an .xlsx workbook)");
    if (bytes.size() > kMaxFileBytes)
        return makeError(ErrorCode::InvalidArgument,
                         "the file is larger than " + std::to_string(kMaxFileBytes >> 20) +
                             " MiB; a form workbook is far smaller (is this the right file?)");
    const std::string_view head(reinterpret_cast<const char*>(bytes.data()),
                                std::min<std::size_t>(bytes.size(), 8));
    if (head == kOleSignature) {
        // An encrypted .xlsx is an OLE compound file holding EncryptionInfo and
        // EncryptedPackage streams; any other OLE file here is a workbook in the old format.
        if (containsUtf16(bytes, "EncryptedPackage") || containsUtf16(bytes, "EncryptionInfo"))
            return makeError(ErrorCode::InvalidArgument,
                             "the workbook is protected with a password; remove it in Excel "
                             "(File > Info > Protect Workbook)");
        return makeError(ErrorCode::InvalidArgument,
                         "this is an old .xls workbook; save it as .xlsx (Excel Workbook)");
    }
    if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K')
        return makeError(ErrorCode::InvalidArgument,
                         "this is not an .xlsx workbook (not a zip file); save it from Excel as "
                         ".xlsx");
    Zip zip(bytes);
    if (!zip.opened()) return corrupt("the workbook is damaged: its zip container cannot be read");
    return Reader(zip).run();
}

Result<Workbook> readWorkbookFile(const std::string& path) {
    std::ifstream in(platform::fsPath(path), std::ios::binary | std::ios::ate);
    if (!in) return makeError(ErrorCode::NotFound, "cannot read the file");
    const auto size = static_cast<std::uint64_t>(in.tellg());
    if (size > kMaxFileBytes)
        return makeError(ErrorCode::InvalidArgument,
                         "the file is larger than " + std::to_string(kMaxFileBytes >> 20) +
                             " MiB; a form workbook is far smaller (is this the right file?)");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    if (!in) return makeError(ErrorCode::Io, "cannot read the file");
    return readWorkbook(bytes);
}

std::string columnName(std::uint32_t column) {
    std::string out;
    std::uint64_t n = static_cast<std::uint64_t>(column) + 1;
    while (n > 0) {
        const auto rem = (n - 1) % 26;
        out.insert(out.begin(), static_cast<char>('A' + rem));
        n = (n - 1) / 26;
    }
    return out;
}

std::string cellName(std::uint32_t column, std::uint32_t row) {
    return columnName(column) + std::to_string(row);
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> parseCellReference(std::string_view ref) {
    std::size_t i = 0;
    std::uint32_t column = 0;
    while (i < ref.size() && i < 4) {
        char c = ref[i];
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (c < 'A' || c > 'Z') break;
        column = column * 26 + static_cast<std::uint32_t>(c - 'A' + 1);
        ++i;
    }
    if (i == 0 || column > kMaxColumns) return std::nullopt;
    // Absolute references ($A$1) are not used in cell positions; plain digits follow.
    std::uint32_t row = 0;
    const auto digits = ref.substr(i);
    if (digits.empty() || digits.size() > 7) return std::nullopt;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), row);
    if (ec != std::errc() || end != digits.data() + digits.size() || row == 0 || row > kMaxRows)
        return std::nullopt;
    return std::pair{column - 1, row};
}

}  // namespace veld::xlsform
