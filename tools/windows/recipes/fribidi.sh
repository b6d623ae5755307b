# GNU FriBidi: static (its fribidi.pc defines FRIBIDI_LIB_STATIC); no docs. 1.0.8's Meson files
# have no switch for its small programs and tests: they are built but not installed.
meson_build --wrap-mode=nodownload -Ddocs=false
# Users of the static library must not ask for __declspec(dllimport).
sed -i 's|^Cflags: .*|& -DFRIBIDI_LIB_STATIC|' "$PREFIX/lib/pkgconfig/fribidi.pc"
