# zstd: libzstd only, static (CMake target zstd::libzstd_static), multithreaded; no programs.
cd build/cmake
cmake_build -DZSTD_BUILD_SHARED=OFF -DZSTD_BUILD_STATIC=ON -DZSTD_BUILD_PROGRAMS=OFF \
  -DZSTD_BUILD_TESTS=OFF -DZSTD_BUILD_CONTRIB=OFF -DZSTD_MULTITHREAD_SUPPORT=ON \
  -DZSTD_LEGACY_SUPPORT=OFF
