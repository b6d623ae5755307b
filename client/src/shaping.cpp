#include "shaping.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <unordered_map>

#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb-ot.h>
#include <hb.h>

#include "text.hpp"

namespace veld::client::shaping {

namespace {

constexpr int kFaces = 3;  // Latin, Arabic, Ethiopic
constexpr std::size_t kLineCacheLimit = 6000;

// The code points whose glyph closure is rasterized per face (besides Dear ImGui's own Latin
// glyphs, which are reused). Common characters (spaces, digits, punctuation) come along because
// they take the face of the script around them.
constexpr char32_t kCommonRanges[][2] = {{0x0020, 0x007E}, {0x00A0, 0x00BF}, {0x2000, 0x206F}};
// Arabic, Arabic Supplement and Presentation Forms-B (the letters' joined forms, which some
// editors write into texts); Presentation Forms-A (Persian and Urdu forms, ligatures) would
// double the glyphs for text nobody types.
constexpr char32_t kArabicRanges[][2] = {{0x0600, 0x06FF}, {0x0750, 0x077F}, {0xFE70, 0xFEFF}};
constexpr char32_t kEthiopicRanges[][2] = {{0x1200, 0x139F}, {0x2D80, 0x2DDF}};

struct AtlasGlyph {
    int rect = -1;  // custom rectangle in the atlas; -1: empty (space) or reused
    const ImFontGlyph* imgui = nullptr;  // Dear ImGui's own glyph (Latin)
    char32_t codepoint = 0;              // for reused glyphs
    int left = 0, top = 0, w = 0, h = 0;
    std::vector<unsigned char> bitmap;  // until finish()
    // Quad relative to the pen position on the line's top, and its texture coordinates.
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    ImVec2 uv0, uv1;
    bool drawable = false;
};

struct Face {
    std::string file;
    hb_blob_t* blob = nullptr;
    hb_face_t* face = nullptr;
    FT_Face ft = nullptr;
    float emPerSize = 1;  // em size in pixels per Dear ImGui font size
    ~Face() {
        if (ft) FT_Done_Face(ft);
        if (face) hb_face_destroy(face);
        if (blob) hb_blob_destroy(blob);
    }
};

struct SizedFace {
    hb_font_t* font = nullptr;
    int hbScale = 0;
    std::unordered_map<std::uint32_t, AtlasGlyph> glyphs;
};

struct Sized {
    const ImFont* font = nullptr;
    SizedFace faces[kFaces];
    std::unordered_map<std::string, Line> lines;
    ~Sized() {
        for (auto& f : faces) {
            if (f.font) hb_font_destroy(f.font);
        }
    }
};

struct State {
    FT_Library library = nullptr;
    std::unique_ptr<Face> faces[kFaces];
    std::vector<std::unique_ptr<Sized>> sizes;
    hb_unicode_funcs_t* unicode = hb_unicode_funcs_get_default();
    ~State() {
        sizes.clear();
        for (auto& f : faces)
            f.reset();
        if (library) FT_Done_FreeType(library);
    }
};

std::unique_ptr<State> g_state;

Sized* sizedFor(const ImFont* font) {
    if (!g_state || !font) return nullptr;
    for (auto& s : g_state->sizes) {
        if (s->font == font) return s.get();
    }
    return nullptr;
}

// Dear ImGui's pixel scale for a font file: its size is the height from the hhea ascender to
// the descender (stb_truetype's ScaleForPixelHeight).
float emPerSize(hb_face_t* face) {
    hb_blob_t* hhea = hb_face_reference_table(face, HB_TAG('h', 'h', 'e', 'a'));
    unsigned int length = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(hb_blob_get_data(hhea, &length));
    float ratio = 1;
    if (data && length >= 8) {
        const auto asc = static_cast<std::int16_t>(data[4] << 8 | data[5]);
        const auto desc = static_cast<std::int16_t>(data[6] << 8 | data[7]);
        if (asc - desc > 0) ratio = static_cast<float>(hb_face_get_upem(face)) / (asc - desc);
    }
    hb_blob_destroy(hhea);
    return ratio;
}

std::unique_ptr<Face> openFace(FT_Library library, const std::string& file) {
    auto face = std::make_unique<Face>();
    face->file = file;
    face->blob = hb_blob_create_from_file_or_fail(file.c_str());
    if (!face->blob) return nullptr;
    face->face = hb_face_create(face->blob, 0);
    if (hb_face_get_glyph_count(face->face) == 0) return nullptr;
    if (FT_New_Face(library, file.c_str(), 0, &face->ft) != 0) {
        face->ft = nullptr;
        return nullptr;
    }
    face->emPerSize = emPerSize(face->face);
    return face;
}

int faceForScript(hb_script_t script) {
    if (script == HB_SCRIPT_ARABIC) return 1;
    if (script == HB_SCRIPT_ETHIOPIC) return 2;
    return 0;
}

bool isWeakScript(hb_script_t s) {
    return s == HB_SCRIPT_COMMON || s == HB_SCRIPT_INHERITED || s == HB_SCRIPT_UNKNOWN;
}

bool hasGlyph(const Sized& sized, int face, char32_t c) {
    hb_codepoint_t glyph = 0;
    return hb_font_get_nominal_glyph(sized.faces[face].font, c, &glyph) != 0;
}

const AtlasGlyph* atlasGlyph(const Sized& sized, int face, std::uint32_t id) {
    const auto& glyphs = sized.faces[face].glyphs;
    const auto it = glyphs.find(id);
    return it == glyphs.end() ? nullptr : &it->second;
}

bool isMark(char32_t c) {
    const auto cat = hb_unicode_general_category(hb_unicode_funcs_get_default(), c);
    return cat == HB_UNICODE_GENERAL_CATEGORY_NON_SPACING_MARK ||
           cat == HB_UNICODE_GENERAL_CATEGORY_SPACING_MARK ||
           cat == HB_UNICODE_GENERAL_CATEGORY_ENCLOSING_MARK;
}

bool isIgnorable(char32_t c) {
    return c == ' ' || c == '\n' || c == '\t' || c == 0x00A0 || (c >= 0x200B && c <= 0x200F) ||
           (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF;
}

Line shapeLine(const Sized& sized, std::u32string text, bool rtl) {
    Line line;
    line.text = std::move(text);
    line.rtl = rtl;
    const std::u32string& t = line.text;
    const std::size_t n = t.size();
    if (n == 0) return line;
    // Scripts, with common and inherited characters taking the script around them, then the
    // face of each character.
    std::vector<hb_script_t> scripts(n);
    for (std::size_t i = 0; i < n; ++i)
        scripts[i] = hb_unicode_script(g_state->unicode, t[i]);
    hb_script_t last = HB_SCRIPT_COMMON;
    for (std::size_t i = 0; i < n; ++i) {
        if (isWeakScript(scripts[i])) {
            scripts[i] = last;
        } else {
            last = scripts[i];
        }
    }
    last = HB_SCRIPT_COMMON;
    for (std::size_t i = n; i-- > 0;) {
        if (scripts[i] == HB_SCRIPT_COMMON) {
            scripts[i] = last;
        } else {
            last = scripts[i];
        }
    }
    std::vector<int> faces(n);
    for (std::size_t i = 0; i < n; ++i) {
        int f = faceForScript(scripts[i]);
        const bool mark = isMark(t[i]);
        if (mark && i > 0) {
            f = faces[i - 1];  // a mark stays with its letter
        } else if (!hasGlyph(sized, f, t[i]) && !isIgnorable(t[i])) {
            for (int other = 0; other < kFaces; ++other) {
                if (hasGlyph(sized, other, t[i])) {
                    f = other;
                    break;
                }
            }
        }
        faces[i] = f;
    }

    float pen = 0;
    hb_buffer_t* buffer = hb_buffer_create();
    for (const text::BidiRun& bidi : text::visualRuns(t, rtl)) {
        // Runs of one face and script inside the directional run, logical order.
        std::vector<std::pair<std::size_t, std::size_t>> pieces;
        std::size_t start = bidi.start;
        for (std::size_t i = bidi.start + 1; i <= bidi.end; ++i) {
            if (i == bidi.end || faces[i] != faces[start] || scripts[i] != scripts[start]) {
                pieces.emplace_back(start, i);
                start = i;
            }
        }
        if (bidi.rtl()) std::reverse(pieces.begin(), pieces.end());
        for (const auto& [a, b] : pieces) {
            Run run;
            run.face = faces[a];
            run.rtl = bidi.rtl();
            run.start = a;
            run.end = b;
            hb_buffer_clear_contents(buffer);
            hb_buffer_add_utf32(buffer, reinterpret_cast<const std::uint32_t*>(t.data()),
                                static_cast<int>(n), static_cast<unsigned int>(a),
                                static_cast<int>(b - a));
            hb_buffer_set_direction(buffer, run.rtl ? HB_DIRECTION_RTL : HB_DIRECTION_LTR);
            hb_buffer_set_script(buffer, scripts[a]);
            hb_buffer_guess_segment_properties(buffer);
            run.script = hb_script_to_iso15924_tag(hb_buffer_get_script(buffer));
            hb_shape(sized.faces[run.face].font, buffer, nullptr, 0);
            unsigned int count = 0;
            const hb_glyph_info_t* info = hb_buffer_get_glyph_infos(buffer, &count);
            const hb_glyph_position_t* pos = hb_buffer_get_glyph_positions(buffer, &count);
            run.glyphs.reserve(count);
            std::int32_t advance = 0;
            for (unsigned int g = 0; g < count; ++g) {
                run.glyphs.push_back({info[g].codepoint, info[g].cluster, pos[g].x_advance,
                                      pos[g].y_advance, pos[g].x_offset, pos[g].y_offset});
                advance += pos[g].x_advance;
                const AtlasGlyph* atlas = atlasGlyph(sized, run.face, info[g].codepoint);
                if (info[g].codepoint == 0 || !atlas) {
                    if (!isIgnorable(t[std::min<std::size_t>(info[g].cluster, n - 1)]))
                        line.missing = true;
                }
            }
            run.x = pen;
            run.width = static_cast<float>(advance) / 64.0f;
            pen += run.width;
            line.runs.push_back(std::move(run));
        }
    }
    hb_buffer_destroy(buffer);
    line.width = pen;
    return line;
}

// The left and right edges of every code point of the line (px), for carets.
struct Edges {
    std::vector<float> left;
    std::vector<float> right;
    std::vector<bool> rtl;
};

Edges edges(const Line& line) {
    const std::size_t n = line.text.size();
    Edges e{std::vector<float>(n, 0), std::vector<float>(n, 0), std::vector<bool>(n, line.rtl)};
    for (const Run& run : line.runs) {
        // The x extent of each cluster.
        std::unordered_map<std::uint32_t, std::pair<float, float>> clusters;
        float pen = run.x;
        for (const auto& g : run.glyphs) {
            const float w = static_cast<float>(g.ax) / 64.0f;
            auto [it, fresh] = clusters.try_emplace(g.cluster, pen, pen + w);
            if (!fresh) {
                it->second.first = std::min(it->second.first, pen);
                it->second.second = std::max(it->second.second, pen + w);
            }
            pen += w;
        }
        std::vector<std::uint32_t> starts;
        for (const auto& [c, extent] : clusters)
            starts.push_back(c);
        std::sort(starts.begin(), starts.end());
        for (std::size_t k = 0; k < starts.size(); ++k) {
            const std::size_t from = starts[k];
            const std::size_t to = k + 1 < starts.size() ? starts[k + 1] : run.end;
            const auto [x0, x1] = clusters[starts[k]];
            // The cluster's width is shared by its characters other than marks.
            std::size_t letters = 0;
            for (std::size_t i = from; i < to; ++i)
                letters += isMark(line.text[i]) ? 0u : 1u;
            letters = std::max<std::size_t>(letters, 1);
            const float share = (x1 - x0) / static_cast<float>(letters);
            std::size_t done = 0;
            for (std::size_t i = from; i < to && i < n; ++i) {
                // A mark takes no width: the caret before it stands after its letter.
                const bool mark = isMark(line.text[i]) && i > from;
                const float a = static_cast<float>(done) * share;
                const float b = mark ? a : a + share;
                if (!mark) ++done;
                e.rtl[i] = run.rtl;
                if (run.rtl) {
                    e.right[i] = x1 - a;
                    e.left[i] = x1 - b;
                } else {
                    e.left[i] = x0 + a;
                    e.right[i] = x0 + b;
                }
            }
        }
    }
    return e;
}

float caretFromEdges(const Line& line, const Edges& e, std::size_t index) {
    const std::size_t n = line.text.size();
    if (n == 0) return 0;
    if (index < n) return e.rtl[index] ? e.right[index] : e.left[index];
    return e.rtl[n - 1] ? e.left[n - 1] : e.right[n - 1];
}

void addRanges(std::vector<char32_t>& out, const char32_t (*ranges)[2], std::size_t count) {
    for (std::size_t r = 0; r < count; ++r) {
        for (char32_t c = ranges[r][0]; c <= ranges[r][1]; ++c)
            out.push_back(c);
    }
}

// The glyphs a shaper can produce from `codepoints` with this font, in either direction.
std::vector<hb_codepoint_t> closure(hb_font_t* font, const std::vector<char32_t>& codepoints,
                                    hb_script_t script) {
    hb_set_t* set = hb_set_create();
    hb_set_add(set, 0);  // .notdef, drawn for what is missing
    for (hb_direction_t dir : {HB_DIRECTION_LTR, HB_DIRECTION_RTL}) {
        hb_buffer_t* buffer = hb_buffer_create();
        hb_buffer_add_utf32(buffer, reinterpret_cast<const std::uint32_t*>(codepoints.data()),
                            static_cast<int>(codepoints.size()), 0, -1);
        hb_buffer_set_direction(buffer, dir);
        hb_buffer_set_script(buffer, script);
        hb_buffer_guess_segment_properties(buffer);
        hb_ot_shape_glyphs_closure(font, buffer, nullptr, 0, set);
        hb_buffer_destroy(buffer);
    }
    std::vector<hb_codepoint_t> glyphs;
    hb_codepoint_t g = HB_SET_VALUE_INVALID;
    while (hb_set_next(set, &g))
        glyphs.push_back(g);
    hb_set_destroy(set);
    return glyphs;
}

// The code points Dear ImGui has rasterized into `font` from `file` (its own config or a merged
// one, named after the file), by glyph id: those glyphs are reused, not rasterized again.
std::unordered_map<hb_codepoint_t, char32_t> imguiGlyphs(const ImFontAtlas& atlas,
                                                         const ImFont* font, hb_font_t* hb,
                                                         const std::string& file) {
    std::unordered_map<hb_codepoint_t, char32_t> out;
    // Dear ImGui names a font after its file, cut at the last '/' or '\\' on every platform
    // (AddFontFromFileTTF); Windows paths use '\\'.
    const std::string name = file.substr(file.find_last_of("/\\") + 1) + ",";
    for (const ImFontConfig& cfg : atlas.ConfigData) {
        if (cfg.DstFont != font || !cfg.GlyphRanges) continue;
        if (std::string_view(cfg.Name).substr(0, name.size()) != name) continue;
        for (const ImWchar* r = cfg.GlyphRanges; r[0] != 0; r += 2) {
            for (char32_t c = r[0]; c <= r[1]; ++c) {
                hb_codepoint_t glyph = 0;
                if (hb_font_get_nominal_glyph(hb, c, &glyph)) out.try_emplace(glyph, c);
            }
        }
    }
    return out;
}

}  // namespace

bool prepare(ImFontAtlas& atlas, const FaceFiles& files, const std::vector<ImFont*>& fonts) {
    reset();
    auto state = std::make_unique<State>();
    if (FT_Init_FreeType(&state->library) != 0) {
        state->library = nullptr;
        return false;
    }
    const std::string* names[kFaces] = {&files.latin, &files.arabic, &files.ethiopic};
    for (int i = 0; i < kFaces; ++i) {
        const std::string& file = names[i]->empty() ? files.latin : *names[i];
        state->faces[i] = openFace(state->library, file);
        if (!state->faces[i]) return false;
    }
    // Latin as Dear ImGui draws it; Arabic at the Latin font's em size (Arabic fonts have tall
    // ascenders and deep descenders, so their own size convention would draw them small);
    // Ethiopic as Dear ImGui draws it, scaled.
    state->faces[1]->emPerSize = state->faces[0]->emPerSize;
    if (!files.ethiopic.empty()) state->faces[2]->emPerSize *= files.ethiopicScale;

    std::vector<char32_t> common;
    addRanges(common, kCommonRanges, std::size(kCommonRanges));
    std::vector<char32_t> arabic = common;
    addRanges(arabic, kArabicRanges, std::size(kArabicRanges));
    std::vector<char32_t> ethiopic = common;
    addRanges(ethiopic, kEthiopicRanges, std::size(kEthiopicRanges));

    for (ImFont* imfont : fonts) {
        auto sized = std::make_unique<Sized>();
        sized->font = imfont;
        float size = 0;  // ImFont::FontSize is set only by Build()
        for (const ImFontConfig& cfg : atlas.ConfigData) {
            if (cfg.DstFont == imfont && !cfg.MergeMode) size = cfg.SizePixels;
        }
        if (size <= 0) return false;
        for (int i = 0; i < kFaces; ++i) {
            Face& face = *state->faces[i];
            SizedFace& sf = sized->faces[i];
            sf.hbScale = static_cast<int>(std::lround(size * face.emPerSize * 64.0f));
            sf.font = hb_font_create(face.face);
            hb_font_set_scale(sf.font, sf.hbScale, sf.hbScale);
            // Glyphs Dear ImGui has at the same scale (Latin; Ge'ez, merged a fifth larger).
            std::unordered_map<hb_codepoint_t, char32_t> reused;
            if (i != 1 || face.file == state->faces[0]->file)
                reused = imguiGlyphs(atlas, imfont, sf.font, face.file);
            std::vector<hb_codepoint_t> glyphs;
            if (i == 0) {
                std::vector<char32_t> latin;
                for (const auto& [glyph, c] : reused)
                    latin.push_back(c);
                std::sort(latin.begin(), latin.end());
                glyphs = closure(sf.font, latin, HB_SCRIPT_LATIN);
            } else {
                glyphs = closure(sf.font, i == 1 ? arabic : ethiopic,
                                 i == 1 ? HB_SCRIPT_ARABIC : HB_SCRIPT_ETHIOPIC);
            }
            FT_Set_Char_Size(face.ft, 0, sf.hbScale, 72, 72);
            for (hb_codepoint_t id : glyphs) {
                AtlasGlyph g;
                const auto found = reused.find(id);
                if (found != reused.end() && id != 0) {
                    g.codepoint = found->second;
                    sf.glyphs.emplace(id, std::move(g));
                    continue;
                }
                if (FT_Load_Glyph(face.ft, id, FT_LOAD_RENDER | FT_LOAD_TARGET_LIGHT) != 0)
                    continue;
                const FT_GlyphSlot slot = face.ft->glyph;
                const FT_Bitmap& bm = slot->bitmap;
                g.left = slot->bitmap_left;
                g.top = slot->bitmap_top;
                g.w = static_cast<int>(bm.width);
                g.h = static_cast<int>(bm.rows);
                if (g.w > 0 && g.h > 0 && bm.pixel_mode == FT_PIXEL_MODE_GRAY) {
                    g.bitmap.resize(static_cast<std::size_t>(g.w) * static_cast<std::size_t>(g.h));
                    for (int y = 0; y < g.h; ++y) {
                        std::memcpy(&g.bitmap[static_cast<std::size_t>(y * g.w)],
                                    bm.buffer + static_cast<std::ptrdiff_t>(y) * bm.pitch,
                                    static_cast<std::size_t>(g.w));
                    }
                    // One empty pixel around each glyph: bilinear filtering never samples a
                    // neighbour.
                    g.rect = atlas.AddCustomRectRegular(g.w + 2, g.h + 2);
                }
                sf.glyphs.emplace(id, std::move(g));
            }
        }
        state->sizes.push_back(std::move(sized));
    }
    g_state = std::move(state);
    return true;
}

void finish(ImFontAtlas& atlas) {
    if (!g_state) return;
    unsigned char* pixels = nullptr;
    int width = 0;
    int height = 0;
    atlas.GetTexDataAsAlpha8(&pixels, &width, &height);
    if (!pixels) {
        reset();
        return;
    }
    for (auto& sized : g_state->sizes) {
        const float ascent = std::floor(sized->font->Ascent + 0.5f);
        for (auto& sf : sized->faces) {
            for (auto& [id, g] : sf.glyphs) {
                if (g.codepoint != 0) {
                    const ImFontGlyph* own =
                        sized->font->FindGlyphNoFallback(static_cast<ImWchar>(g.codepoint));
                    if (own && own->Visible) {
                        g.x0 = own->X0;
                        g.y0 = own->Y0;
                        g.x1 = own->X1;
                        g.y1 = own->Y1;
                        g.uv0 = ImVec2(own->U0, own->V0);
                        g.uv1 = ImVec2(own->U1, own->V1);
                        g.drawable = true;
                    }
                    continue;
                }
                if (g.rect < 0) continue;
                const ImFontAtlasCustomRect* r = atlas.GetCustomRectByIndex(g.rect);
                if (!r->IsPacked()) continue;
                for (int y = 0; y < g.h; ++y) {
                    std::memcpy(
                        pixels + static_cast<std::ptrdiff_t>(r->Y + 1 + y) * width + r->X + 1,
                        &g.bitmap[static_cast<std::size_t>(y * g.w)],
                        static_cast<std::size_t>(g.w));
                }
                g.bitmap.clear();
                g.bitmap.shrink_to_fit();
                g.x0 = static_cast<float>(g.left);
                g.y0 = ascent - static_cast<float>(g.top);
                g.x1 = g.x0 + static_cast<float>(g.w);
                g.y1 = g.y0 + static_cast<float>(g.h);
                g.uv0 = ImVec2(static_cast<float>(r->X + 1) * atlas.TexUvScale.x,
                               static_cast<float>(r->Y + 1) * atlas.TexUvScale.y);
                g.uv1 = ImVec2(static_cast<float>(r->X + 1 + g.w) * atlas.TexUvScale.x,
                               static_cast<float>(r->Y + 1 + g.h) * atlas.TexUvScale.y);
                g.drawable = true;
            }
        }
    }
}

void reset() {
    g_state.reset();
}

bool available(const ImFont* font) {
    return sizedFor(font) != nullptr;
}

bool needsShaping(std::string_view utf8, bool rtl) {
    if (rtl) return true;
    if (std::all_of(utf8.begin(), utf8.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
        return false;
    }
    for (char32_t c : text::decodeUtf8(utf8)) {
        if (c >= 0x0300 && c <= 0x036F) return true;  // combining marks
        if (c < 0x0590) continue;                     // Latin, Greek, Cyrillic, ...
        if (c >= 0x1E00 && c <= 0x1EFF) continue;     // Latin Extended Additional
        if (c >= 0x2000 && c <= 0x2BFF) continue;     // punctuation, symbols, arrows
        return true;
    }
    return false;
}

const Line* layout(std::string_view logical, bool rtl, const ImFont* font) {
    Sized* sized = sizedFor(font);
    if (!sized) return nullptr;
    std::string key;
    key.reserve(logical.size() + 1);
    key.push_back(rtl ? 'R' : 'L');
    key.append(logical);
    auto it = sized->lines.find(key);
    if (it != sized->lines.end()) return &it->second;
    std::u32string cps = text::decodeUtf8(logical);
    for (auto& c : cps) {
        if (c == '\n' || c == '\t') c = ' ';
    }
    return &sized->lines.emplace(std::move(key), shapeLine(*sized, std::move(cps), rtl))
                .first->second;
}

void draw(ImDrawList* list, const Line& line, const ImFont* font, ImVec2 pos, ImU32 color,
          float scale, DrawnText* record) {
    const Sized* sized = sizedFor(font);
    if (!sized || !list) return;
    const ImVec2 clipMin = list->GetClipRectMin();
    const ImVec2 clipMax = list->GetClipRectMax();
    struct Quad {
        ImVec2 a, b, uv0, uv1;
    };
    std::vector<Quad> quads;
    if (record) {
        record->rtl = line.rtl;
        record->pos = pos;
        record->width = line.width * scale;
    }
    for (const Run& run : line.runs) {
        DrawnRun* drawn = nullptr;
        if (record) {
            record->runs.emplace_back();
            drawn = &record->runs.back();
            drawn->font = g_state->faces[run.face]->file;
            drawn->hbScale = sized->faces[run.face].hbScale;
            drawn->scale = scale;
            drawn->rtl = run.rtl;
            char tag[5] = {};
            hb_tag_to_string(run.script, tag);
            drawn->script = tag;
            drawn->language = hb_language_to_string(hb_language_get_default());
            drawn->text = text::encodeUtf8(
                std::u32string_view(line.text).substr(run.start, run.end - run.start));
        }
        float pen = run.x;
        for (const auto& g : run.glyphs) {
            const float ox = pos.x + (pen + static_cast<float>(g.dx) / 64.0f) * scale;
            const float oy = pos.y - static_cast<float>(g.dy) / 64.0f * scale;
            if (drawn) drawn->glyphs.push_back({g.id, g.ax, g.ay, g.dx, g.dy, ImVec2(ox, oy)});
            pen += static_cast<float>(g.ax) / 64.0f;
            const AtlasGlyph* a = atlasGlyph(*sized, run.face, g.id);
            if (!a) a = atlasGlyph(*sized, run.face, 0);
            if (!a || !a->drawable) continue;
            const float x = std::floor(ox + 0.5f);
            const float y = std::floor(oy + 0.5f);
            const ImVec2 qa(x + a->x0 * scale, y + a->y0 * scale);
            const ImVec2 qb(x + a->x1 * scale, y + a->y1 * scale);
            if (qb.x < clipMin.x || qa.x > clipMax.x || qb.y < clipMin.y || qa.y > clipMax.y)
                continue;
            quads.push_back({qa, qb, a->uv0, a->uv1});
        }
    }
    if (quads.empty()) return;
    list->PrimReserve(static_cast<int>(quads.size()) * 6, static_cast<int>(quads.size()) * 4);
    for (const Quad& q : quads)
        list->PrimRectUV(q.a, q.b, q.uv0, q.uv1, color);
}

float caretX(const Line& line, std::size_t index) {
    return caretFromEdges(line, edges(line), index);
}

std::size_t indexAt(const Line& line, float x) {
    const Edges e = edges(line);
    std::size_t best = 0;
    float bestDistance = 1e30f;
    for (std::size_t i = 0; i <= line.text.size(); ++i) {
        const float d = std::fabs(caretFromEdges(line, e, i) - x);
        if (d < bestDistance) {
            bestDistance = d;
            best = i;
        }
    }
    return best;
}

std::vector<char32_t> missingGlyphs(std::string_view logical, const ImFont* font) {
    std::vector<char32_t> missing;
    const Sized* sized = sizedFor(font);
    const Line* line = layout(logical, false, font);
    if (!sized || !line) {
        const std::u32string all = text::decodeUtf8(logical);
        return {all.begin(), all.end()};
    }
    if (!line->missing) return missing;
    for (const Run& run : line->runs) {
        for (const auto& g : run.glyphs) {
            const AtlasGlyph* a = atlasGlyph(*sized, run.face, g.id);
            const char32_t c = line->text[std::min<std::size_t>(g.cluster, line->text.size() - 1)];
            if ((g.id == 0 || !a) && !isIgnorable(c)) missing.push_back(c);
        }
    }
    return missing;
}

void trimCaches() {
    if (!g_state) return;
    for (auto& sized : g_state->sizes) {
        if (sized->lines.size() > kLineCacheLimit) sized->lines.clear();
    }
}

}  // namespace veld::client::shaping
