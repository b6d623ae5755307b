# stb: Debian's libstb (every header compiled once into libstb.a, as libstb-dev ships it), with
# its stb.pc; headers in include/stb.
make -j "$JOBS" libstb.a stb.pc CC="$CC" AR="$AR" MULTIARCH=x86_64-w64-mingw32 PREFIX="$PREFIX" \
  LIBDIR=lib CFLAGS="$CFLAGS"
install -d "$PREFIX/include/stb/deprecated" "$PREFIX/lib/pkgconfig"
install -m 0644 ./*.h "$PREFIX/include/stb/"
install -m 0644 deprecated/stb.h "$PREFIX/include/stb/deprecated/"
install -m 0644 libstb.a "$PREFIX/lib/"
install -m 0644 stb.pc "$PREFIX/lib/pkgconfig/"
