# mpg123: libmpg123 only (MP3 decoding for libsndfile), static, generic decoder choice.
autotools_build --disable-components --enable-libmpg123 --with-cpu=x86-64 --disable-modules
