# FreeType: static, with zlib (compressed fonts) only; no bzip2, PNG, brotli or HarfBuzz.
cmake_build -DFT_REQUIRE_ZLIB=ON -DFT_DISABLE_BZIP2=ON -DFT_DISABLE_PNG=ON \
  -DFT_DISABLE_HARFBUZZ=ON -DFT_DISABLE_BROTLI=ON
