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
  -Wno-missing-field-initializers
  # GCC 12 reports std::string concatenation inlined at -O3 as overlapping memcpy (GCC bug
  # 105329): a false positive in libstdc++, not in our code.
  -Wno-restrict)
if(VELD_WERROR)
  target_compile_options(veld_options INTERFACE -Werror)
endif()

# Asserts state invariants; they stay on in every build type we ship to testers and CI.
target_compile_options(veld_options INTERFACE -UNDEBUG)

if(VELD_SANITIZE)
  set(_veld_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_compile_options(veld_options INTERFACE ${_veld_san})
  target_link_options(veld_options INTERFACE ${_veld_san})
endif()
