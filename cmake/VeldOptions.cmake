# Compile options for Veld's own targets, carried by one interface target instead of global
# flags, so that generated code and third-party headers are never held to our warning level.
add_library(veld_options INTERFACE)
add_library(veld::options ALIAS veld_options)
target_compile_features(veld_options INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)

target_compile_options(veld_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough
  # Designated initializers that leave defaulted members out are the idiom for option structs.
  -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports std::string concatenation inlined at -O3 as overlapping memcpy (GCC bug
  # 105329): a false positive in libstdc++, not in our code.
  target_compile_options(veld_options INTERFACE -Wno-restrict)
endif()
if(VELD_WERROR)
  target_compile_options(veld_options INTERFACE -Werror)
endif()

# Asserts state invariants; they stay on in every build type we ship to testers and CI.
target_compile_options(veld_options INTERFACE -UNDEBUG)

if(VELD_SANITIZE AND VELD_TSAN)
  message(FATAL_ERROR "VELD_SANITIZE (ASan + UBSan) and VELD_TSAN cannot be combined")
endif()
if(VELD_SANITIZE)
  set(_veld_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_compile_options(veld_options INTERFACE ${_veld_san})
  target_link_options(veld_options INTERFACE ${_veld_san})
endif()
if(VELD_TSAN)
  target_compile_options(veld_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(veld_options INTERFACE -fsanitize=thread)
endif()

# Coverage for libFuzzer on every target of ours (clang only); the fuzzers in tests/fuzz link
# libFuzzer itself. The instrumentation costs the tests little, and it lets the one sanitized
# build serve both the suite and the fuzzers.
if(VELD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "VELD_FUZZ needs clang (the dev preset uses clang++-14)")
  endif()
  target_compile_options(veld_options INTERFACE -fsanitize=fuzzer-no-link)
endif()
