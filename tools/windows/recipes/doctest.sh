# doctest: the header and its CMake config (doctest::doctest, doctest_discover_tests).
cmake_build -DDOCTEST_WITH_TESTS=OFF -DDOCTEST_WITH_MAIN_IN_STATIC_LIB=OFF
