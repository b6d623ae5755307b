# libvorbis: static, decoding and encoding (libsndfile links vorbisenc), no docs or examples.
autotools_build --disable-docs --disable-examples --disable-oggtest
