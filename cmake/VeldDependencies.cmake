# Every dependency comes from Debian's packages; nothing is downloaded or vendored.
find_package(SQLite3 REQUIRED)
find_package(FlatBuffers CONFIG REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# libsodium: PIN hashing and pseudonyms (and, later, sealed records).
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
add_library(veld::sodium ALIAS PkgConfig::SODIUM)

# The client: Dear ImGui 1.86 (Debian ships a static libimgui.a with the GLFW and OpenGL 3
# backends, imgui_stdlib and imgui_freetype compiled in, but no CMake config), GLFW, OpenGL and
# FriBidi. libimgui.a is wrapped in our own imported target so that stb and FreeType come after
# it on the link line (the linker runs with --as-needed).
option(VELD_BUILD_CLIENT "Build the Dear ImGui client" ON)
if(VELD_BUILD_CLIENT)
  pkg_check_modules(STB REQUIRED IMPORTED_TARGET stb)
  pkg_check_modules(FRIBIDI REQUIRED IMPORTED_TARGET fribidi)
  find_package(Freetype REQUIRED)
  find_package(glfw3 3.3 REQUIRED)
  set(OpenGL_GL_PREFERENCE GLVND)
  find_package(OpenGL REQUIRED)
  find_library(VELD_IMGUI_LIBRARY NAMES libimgui.a imgui REQUIRED)
  find_path(VELD_IMGUI_INCLUDE_DIR imgui.h PATH_SUFFIXES imgui REQUIRED)
  add_library(veld_imgui STATIC IMPORTED GLOBAL)
  set_target_properties(veld_imgui PROPERTIES
    IMPORTED_LOCATION ${VELD_IMGUI_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${VELD_IMGUI_INCLUDE_DIR}
    INTERFACE_LINK_LIBRARIES "PkgConfig::STB;Freetype::Freetype;${CMAKE_DL_LIBS}")
  add_library(veld::imgui ALIAS veld_imgui)
  add_library(veld::fribidi ALIAS PkgConfig::FRIBIDI)
  # HarfBuzz shapes the client's text (Arabic, Ethiopic); FreeType rasterizes its glyphs.
  pkg_check_modules(HARFBUZZ REQUIRED IMPORTED_TARGET harfbuzz)
  add_library(veld::harfbuzz ALIAS PkgConfig::HARFBUZZ)
endif()

# Media a form carries: libsndfile decodes recorded clips, stb_image pictures (PNG, JPEG).
pkg_check_modules(VELD_SNDFILE REQUIRED IMPORTED_TARGET sndfile)
add_library(veld::sndfile ALIAS PkgConfig::VELD_SNDFILE)
pkg_check_modules(VELD_STB_IMAGE REQUIRED IMPORTED_TARGET stb)
add_library(veld::stb ALIAS PkgConfig::VELD_STB_IMAGE)
