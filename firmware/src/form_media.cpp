#include <veld/fb/form_generated.h>
#include <veld/form_media.hpp>

namespace veld::forms {

const fb::MediaFile* mediaFile(const fb::Form& form, std::string_view name) {
    const auto* media = form.media();
    if (!media || name.empty()) return nullptr;
    // Compiled forms keep media sorted by name, but a binary from elsewhere may not be: look at
    // each (a form carries tens of files, not thousands).
    for (const auto* file : *media) {
        if (file->name() && file->name()->string_view() == name) return file;
    }
    return nullptr;
}

std::span<const std::uint8_t> mediaBytes(const fb::MediaFile& file) {
    if (!file.data()) return {};
    return {file.data()->data(), file.data()->size()};
}

std::string_view labelAudio(const LocalizedTexts* texts, std::string_view language) {
    if (!texts) return {};
    for (const auto* t : *texts) {
        if (t->lang() && t->lang()->string_view() == language) {
            return t->audio() ? t->audio()->string_view() : std::string_view{};
        }
    }
    return {};
}

std::string_view labelImage(const LocalizedTexts* texts, std::string_view language) {
    if (!texts) return {};
    std::string_view any;
    for (const auto* t : *texts) {
        if (!t->image() || t->image()->size() == 0) continue;
        if (t->lang() && t->lang()->string_view() == language) return t->image()->string_view();
        if (any.empty()) any = t->image()->string_view();
    }
    return any;
}

}  // namespace veld::forms
