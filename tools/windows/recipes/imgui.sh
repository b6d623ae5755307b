# Dear ImGui: a static libimgui.a as Debian's libimgui-dev has it (its Makefile, stb's
# rect_pack and truetype from libstb), with the core, imgui_stdlib, imgui_freetype and the GLFW
# and OpenGL 3 backends; headers in include/imgui, imgui.pc.
imgui_make=(CXX="$CXX" AR="$AR" MULTIARCH=x86_64-w64-mingw32 PREFIX="$PREFIX" LIBDIR=lib
  VERSION="${VERSION%%+*}" LIBS=freetype2
  SRCS="$(echo imgui*.cpp misc/cpp/*.cpp misc/freetype/*.cpp) backends/imgui_impl_glfw.cpp backends/imgui_impl_opengl3.cpp")
make -j "$JOBS" libimgui.a imgui.pc "${imgui_make[@]}"
make install-static install-header "${imgui_make[@]}"
# imgui_freetype is inside libimgui.a: a static link needs FreeType after it.
sed -i 's|^Requires: stb$|Requires: stb\nRequires.private: freetype2|' "$PREFIX/lib/pkgconfig/imgui.pc"
