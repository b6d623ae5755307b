# libsodium: static (define SODIUM_STATIC when including sodium.h); no tests, no PIE.
autotools_build --disable-pie --disable-ssp
sed -i 's|^Cflags: .*|& -DSODIUM_STATIC|' "$PREFIX/lib/pkgconfig/libsodium.pc"
