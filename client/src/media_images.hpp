// The pictures a form carries for its choices, drawn in the choice rows: each decoded once per
// form (stb_image) into an OpenGL texture, kept while the form is open and freed when it closes.
// Without a window (the headless tests) no texture can be made, and choices show no picture.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace veld::fb {
struct Form;
struct Choice;
}  // namespace veld::fb

namespace veld::client {

/// How pictures become textures: set by the program that has a window (uploadTexture and
/// freeTexture of window.hpp); unset, no picture is drawn.
struct TextureFunctions {
    unsigned (*upload)(const unsigned char* rgba, int width, int height) = nullptr;
    void (*release)(unsigned texture) = nullptr;
};
void useTextures(TextureFunctions functions);

class MediaImages {
  public:
    struct Picture {
        unsigned texture = 0;  // 0: it did not decode (then it is not tried again)
        int width = 0;
        int height = 0;
    };

    MediaImages() = default;
    ~MediaImages();
    MediaImages(const MediaImages&) = delete;
    MediaImages& operator=(const MediaImages&) = delete;

    /// The picture `name` of `form`, decoded and uploaded at its first use; null when the form
    /// carries no such picture, it does not decode, or there is no window.
    const Picture* get(const fb::Form& form, std::string_view name);
    /// Frees every texture (the form closed).
    void clear();
    [[nodiscard]] std::size_t size() const { return m_pictures.size(); }

  private:
    std::map<std::string, Picture, std::less<>> m_pictures;
};

namespace widgets {
struct Ctx;

/// A choice row (ui::choiceRow) with the choice's picture, a square twice a touch target high
/// (at least four text lines),
/// at the row's reading side (left, or right in a right-to-left form); a tap on the picture
/// picks the choice too. A plain row when the choice has no picture.
bool pictureChoiceRow(Ctx& c, const std::string& id, const fb::Choice& choice,
                      std::string_view label, bool selected, bool multi, bool enabled, float width);
}  // namespace widgets

}  // namespace veld::client
