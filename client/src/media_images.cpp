#include "media_images.hpp"

#include <algorithm>
#include <memory>

#include <imgui.h>
#include <stb_image.h>

#include <veld/fb/form_generated.h>
#include <veld/form_media.hpp>

#include "form_widgets.hpp"
#include "ui.hpp"

namespace veld::client {

namespace {
TextureFunctions g_textures;
}  // namespace

void useTextures(TextureFunctions functions) {
    g_textures = functions;
}

MediaImages::~MediaImages() {
    clear();
}

void MediaImages::clear() {
    for (const auto& [name, picture] : m_pictures)
        if (picture.texture && g_textures.release) g_textures.release(picture.texture);
    m_pictures.clear();
}

const MediaImages::Picture* MediaImages::get(const fb::Form& form, std::string_view name) {
    if (!g_textures.upload) return nullptr;
    auto it = m_pictures.find(name);
    if (it == m_pictures.end()) {
        Picture picture;
        const auto* file = forms::mediaFile(form, name);
        if (file && file->kind() == fb::MediaKind::Image) {
            const auto bytes = forms::mediaBytes(*file);
            int w = 0, h = 0, channels = 0;
            std::unique_ptr<unsigned char, void (*)(void*)> rgba(
                stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h,
                                      &channels, 4),
                stbi_image_free);
            if (rgba) {
                picture.texture = g_textures.upload(rgba.get(), w, h);
                picture.width = w;
                picture.height = h;
            }
        }
        it = m_pictures.emplace(std::string(name), picture).first;
    }
    return it->second.texture ? &it->second : nullptr;
}

namespace widgets {

bool pictureChoiceRow(Ctx& c, const std::string& id, const fb::Choice& choice,
                      std::string_view label, bool selected, bool multi, bool enabled,
                      float width) {
    const auto name = forms::labelImage(choice.labels(), c.lang);
    const auto* picture = name.empty() ? nullptr : c.view.pictures.get(c.form, name);
    if (!picture)
        return ui::choiceRow(id, label, selected, multi, c.rtl, c.rowHeight, enabled, width);
    const float side = std::max(2 * c.rowHeight, 4 * ImGui::GetTextLineHeight());
    const float gap = ImGui::GetStyle().ItemSpacing.x;
    const float full = width > 0 ? width : ImGui::GetContentRegionAvail().x;
    bool pressed = false;
    const auto drawPicture = [&] {
        const ImVec2 min = ImGui::GetCursorScreenPos();
        const ImVec2 max(min.x + side, min.y + side);
        ImGui::PushID(id.c_str());
        ImGui::BeginDisabled(!enabled);
        pressed = ImGui::InvisibleButton("##picture", ImVec2(side, side)) || pressed;
        ImGui::EndDisabled();
        ImGui::PopID();
        ImDrawList* draw = ImGui::GetWindowDrawList();
        draw->AddRectFilled(min, max, ImGui::GetColorU32(ImGuiCol_FrameBg),
                            ImGui::GetStyle().FrameRounding);
        // Fitted into the square, its proportions kept.
        const float inset = 4;
        const float room = side - 2 * inset;
        const float scale = std::min(room / static_cast<float>(picture->width),
                                     room / static_cast<float>(picture->height));
        const float w = static_cast<float>(picture->width) * scale;
        const float h = static_cast<float>(picture->height) * scale;
        const ImVec2 at(min.x + (side - w) / 2, min.y + (side - h) / 2);
        draw->AddImage(reinterpret_cast<ImTextureID>(static_cast<std::uintptr_t>(picture->texture)),
                       at, ImVec2(at.x + w, at.y + h));
        ui::record(id + ".picture", label, min, max);
    };
    if (!c.rtl) {
        drawPicture();
        ImGui::SameLine(0, gap);
    }
    pressed = ui::choiceRow(id, label, selected, multi, c.rtl, side, enabled, full - side - gap) ||
              pressed;
    if (c.rtl) {
        ImGui::SameLine(0, gap);
        drawPicture();
    }
    return pressed && enabled;
}

}  // namespace widgets

}  // namespace veld::client
