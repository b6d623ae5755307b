# minizip (zlib's contrib): a static libminizip.a with Windows' file functions (iowin32), as
# upstream's Makefile.am builds it on Windows; headers in include/minizip.
for f in ioapi iowin32 unzip zip mztools; do
  # shellcheck disable=SC2086
  "$CC" $CPPFLAGS $CFLAGS -c "$f.c" -o "$f.o"
done
"$AR" rcs libminizip.a ioapi.o iowin32.o unzip.o zip.o mztools.o
install -d "$PREFIX/include/minizip"
install -m 0644 ioapi.h iowin32.h unzip.h zip.h mztools.h crypt.h "$PREFIX/include/minizip/"
install -m 0644 libminizip.a "$PREFIX/lib/"
write_pc minizip "${VERSION%%-*}" -lminizip zlib
sed -i 's|^Cflags: -I${includedir}|Cflags: -I${includedir}/minizip|' "$PREFIX/lib/pkgconfig/minizip.pc"
