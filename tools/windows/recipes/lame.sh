# LAME: libmp3lame only (libsndfile's MP3 support links it), static, no frontend.
autotools_build --disable-frontend --disable-decoder --disable-gtktest --disable-analyzer-hooks
