# libxlsxwriter: static, with the system's minizip (as Debian builds it) and its own MD5 (Debian
# uses OpenSSL's; OpenSSL is not part of the Windows build); no tests or examples.
cmake_build -DUSE_SYSTEM_MINIZIP=ON -DUSE_OPENSSL_MD5=OFF -DUSE_NO_MD5=OFF -DBUILD_TESTS=OFF \
  -DBUILD_EXAMPLES=OFF -DUSE_STATIC_MSVC_RUNTIME=OFF
# Its xlsxwriter.pc names only zlib: a static link needs minizip too.
sed -i 's|^Libs: .*|Libs: -L${libdir} -lxlsxwriter\nRequires.private: minizip zlib|' \
  "$PREFIX/lib/pkgconfig/xlsxwriter.pc"
