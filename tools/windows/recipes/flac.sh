# FLAC: libFLAC only, static, with Ogg; no programs, no C++ library, no docs.
cmake_build -DBUILD_PROGRAMS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_TESTING=OFF -DBUILD_DOCS=OFF \
  -DBUILD_CXXLIBS=OFF -DINSTALL_MANPAGES=OFF -DWITH_OGG=ON -DWITH_STACK_PROTECTOR=OFF
# Users of the static library must not ask for __declspec(dllimport).
sed -i 's|^Cflags: .*|& -DFLAC__NO_DLL|' "$PREFIX/lib/pkgconfig/flac.pc"
