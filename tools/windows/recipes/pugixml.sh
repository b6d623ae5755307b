# pugixml: static (CMake target pugixml::pugixml); no tests.
cmake_build -DPUGIXML_BUILD_TESTS=OFF -DPUGIXML_BUILD_SHARED_AND_STATIC_LIBS=OFF
