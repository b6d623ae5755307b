// The rules a form's media keep: names, digests, kinds and limits, and whether bytes decode as a
// clip (veld/sound_file.hpp) or a picture (stb_image: PNG or JPEG).
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <sodium.h>
#include <stb_image.h>

#include <veld/fb/form_generated.h>
#include <veld/form_media.hpp>
#include <veld/form_media_files.hpp>
#include <veld/hex.hpp>
#include <veld/sound_file.hpp>

namespace veld::forms {

namespace {

std::string sizeText(std::size_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes >= (1u << 20)) {
        const auto tenths = bytes * 10 / (1u << 20);
        return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
    }
    return std::to_string((bytes + 1023) / 1024) + " KiB";
}

std::string audioProblem(std::span<const std::uint8_t> bytes, bool fully) {
    // Decoding stops a second past the limit; without `fully`, after the first block.
    std::int64_t frames = 0;
    std::string problem;
    const auto format = sound::read(
        bytes,
        [&](const float*, std::int64_t n, const sound::Format& f) {
            frames += n;
            return fully && static_cast<double>(frames) <= (kMaxClipSeconds + 1) * f.sampleRate;
        },
        &problem);
    if (!format) return problem;
    if (fully && frames == 0) return "holds no sound (no audio frames)";
    // The header tells the whole length where the decode stopped early.
    const double seconds =
        static_cast<double>(std::max(frames, format->frames)) / format->sampleRate;
    if (seconds > kMaxClipSeconds) {
        return "is " + std::to_string(static_cast<long>(seconds)) +
               " s long; a clip may last at most " +
               std::to_string(static_cast<int>(kMaxClipSeconds)) + " s";
    }
    return {};
}

std::string imageProblem(std::span<const std::uint8_t> bytes, bool fully) {
    static constexpr std::uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const bool png = bytes.size() >= 8 && std::equal(kPng, kPng + 8, bytes.begin());
    const bool jpeg = bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
    if (!png && !jpeg) return "is not a PNG or JPEG picture";
    if (bytes.size() > static_cast<std::size_t>(INT32_MAX)) return "is too large";
    int w = 0, h = 0, comp = 0;
    const int len = static_cast<int>(bytes.size());
    if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &comp))
        return std::string("is not a readable picture: ") + stbi_failure_reason();
    if (w > kMaxImageSide || h > kMaxImageSide) {
        return "is " + std::to_string(w) + "x" + std::to_string(h) +
               " pixels; a picture may be at most " + std::to_string(kMaxImageSide) + "x" +
               std::to_string(kMaxImageSide);
    }
    if (fully) {
        unsigned char* pixels = stbi_load_from_memory(bytes.data(), len, &w, &h, &comp, 4);
        if (!pixels) return std::string("does not decode: ") + stbi_failure_reason();
        stbi_image_free(pixels);
    }
    return {};
}

void usesOf(const LocalizedTexts* texts, const std::string& item, const std::string& where,
            std::vector<MediaUse>& out) {
    if (!texts) return;
    for (const auto* t : *texts) {
        const std::string lang = t->lang() ? t->lang()->str() : "";
        if (t->audio() && t->audio()->size() > 0)
            out.push_back({item, where, lang, t->audio()->str(), false});
        if (t->image() && t->image()->size() > 0)
            out.push_back({item, where, lang, t->image()->str(), true});
    }
}

void itemUses(const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>* items,
              std::vector<MediaUse>& out) {
    if (!items) return;
    for (const auto* item : *items) {
        const std::string name = item->name() ? item->name()->str() : "";
        usesOf(item->labels(), name, "label", out);
        usesOf(item->hints(), name, "hint", out);
        usesOf(item->constraint_messages(), name, "constraint message", out);
        usesOf(item->required_messages(), name, "required message", out);
        itemUses(item->children(), out);
    }
}

}  // namespace

bool validMediaName(std::string_view name) {
    if (name.empty() || name.size() > kMaxMediaNameLength) return false;
    if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
}

std::string mediaFolderOf(const std::string& formPath) {
    const auto slash = formPath.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : formPath.substr(0, slash + 1);
    std::string base = slash == std::string::npos ? formPath : formPath.substr(slash + 1);
    if (const auto dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
    return dir + base + "-media";
}

std::string mediaDigest(std::span<const std::uint8_t> bytes) {
    std::uint8_t out[32];
    crypto_generichash(out, sizeof out, bytes.data(), bytes.size(), nullptr, 0);
    return toHex(out);
}

std::string MediaUse::describe() const {
    std::string out = where;
    if (!lang.empty()) out += " in '" + lang + "'";
    return out;
}

std::vector<MediaUse> mediaUses(const fb::Form& form) {
    std::vector<MediaUse> out;
    usesOf(form.titles(), "", "title", out);
    usesOf(form.descriptions(), "", "description", out);
    itemUses(form.items(), out);
    if (form.choice_lists()) {
        for (const auto* list : *form.choice_lists()) {
            const std::string name = list->name() ? list->name()->str() : "";
            if (!list->choices()) continue;
            for (const auto* c : *list->choices()) {
                const std::string choice = c->name() ? c->name()->str() : "";
                usesOf(c->labels(), name, "choice '" + choice + "' label", out);
            }
        }
    }
    return out;
}

std::string mediaSizeProblem(bool image, std::size_t bytes) {
    const std::size_t limit = image ? kMaxImageBytes : kMaxClipBytes;
    if (bytes <= limit) return {};
    return "is " + sizeText(bytes) + (image ? "; a picture" : "; a clip") + " may be at most " +
           sizeText(limit);
}

std::string mediaDataProblem(bool image, std::span<const std::uint8_t> bytes, bool fully) {
    if (auto big = mediaSizeProblem(image, bytes.size()); !big.empty()) return big;
    return image ? imageProblem(bytes, fully) : audioProblem(bytes, fully);
}

std::vector<MediaIssue> checkFormMedia(const fb::Form& form, std::size_t binarySize) {
    std::vector<MediaIssue> out;
    const auto uses = mediaUses(form);
    // What each name is used as: the first use, for messages and the kind.
    std::map<std::string, const MediaUse*> firstUse;
    for (const auto& use : uses) {
        auto [it, added] = firstUse.emplace(use.name, &use);
        if (!validMediaName(use.name)) {
            if (added)
                out.push_back({true, use.item,
                               use.describe() + ": '" + use.name +
                                   "' is not a plain media file name (letters, digits, '.', '_' "
                                   "and '-', no folders)",
                               use.name});
            continue;
        }
        if (!added && it->second->image != use.image) {
            out.push_back({true, use.item,
                           use.describe() + ": media file '" + use.name +
                               "' is used both as a recording and as a picture",
                           use.name});
        }
    }
    std::set<std::string> carried;
    std::size_t total = 0;
    if (const auto* media = form.media()) {
        for (const auto* file : *media) {
            const std::string name = file->name() ? file->name()->str() : "";
            const auto bytes = mediaBytes(*file);
            total += bytes.size();
            if (!validMediaName(name)) {
                out.push_back({true, "",
                               "the form carries a media file named '" + name +
                                   "', which is not a plain media file name",
                               name});
                continue;
            }
            if (!carried.insert(name).second) {
                out.push_back({true, "", "the form carries media file '" + name + "' twice", name});
                continue;
            }
            const bool image = file->kind() == fb::MediaKind::Image;
            if (file->kind() != fb::MediaKind::Image && file->kind() != fb::MediaKind::Audio) {
                out.push_back({true, "", "media file '" + name + "' is of an unknown kind", name});
                continue;
            }
            const std::string digest = file->digest() ? file->digest()->str() : "";
            if (digest != mediaDigest(bytes)) {
                out.push_back({true, "",
                               "media file '" + name +
                                   "' does not match its digest (its bytes were changed after "
                                   "the form was compiled)",
                               name});
                continue;
            }
            auto use = firstUse.find(name);
            if (use == firstUse.end()) {
                out.push_back({false, "",
                               "the form carries media file '" + name + "' that no label names",
                               name});
            } else if (use->second->image != image) {
                out.push_back({true, use->second->item,
                               use->second->describe() + ": media file '" + name + "' is " +
                                   (image ? "a picture" : "a recording") + ", not " +
                                   (use->second->image ? "a picture" : "a recording"),
                               name});
                continue;
            }
            if (auto problem = mediaDataProblem(image, bytes, false); !problem.empty())
                out.push_back({true, "", "media file '" + name + "' " + problem, name});
        }
    }
    for (const auto& [name, use] : firstUse) {
        if (validMediaName(name) && !carried.count(name))
            out.push_back(
                {true, use->item,
                 use->describe() + ": media file '" + name + "' is not carried by the form", name});
    }
    if (total > kMaxFormMediaBytes)
        out.push_back({true, "",
                       "the form's media add up to " + sizeText(total) +
                           "; a form may carry at most " + sizeText(kMaxFormMediaBytes),
                       ""});
    else if (binarySize > kMaxFormBytes)
        out.push_back({true, "",
                       "the compiled form is " + sizeText(binarySize) + "; a form may be at most " +
                           sizeText(kMaxFormBytes),
                       ""});
    return out;
}

}  // namespace veld::forms
