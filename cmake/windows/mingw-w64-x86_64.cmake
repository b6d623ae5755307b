# Cross build for 64-bit Windows with Debian's mingw-w64 (the posix thread model, so that
# std::thread and std::mutex work). The dependencies come from the prefix tools/windows/deps
# builds; pass it as VELD_WINDOWS_DEPS (tools/dev windows and the windows preset do), e.g.
#   cmake --preset windows -DVELD_WINDOWS_DEPS=$PWD/build/windows-deps/<key>/prefix
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(VELD_MINGW_TRIPLET x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${VELD_MINGW_TRIPLET}-gcc-posix)
set(CMAKE_CXX_COMPILER ${VELD_MINGW_TRIPLET}-g++-posix)
set(CMAKE_RC_COMPILER ${VELD_MINGW_TRIPLET}-windres)
set(CMAKE_AR ${VELD_MINGW_TRIPLET}-gcc-ar-posix CACHE FILEPATH "")
set(CMAKE_RANLIB ${VELD_MINGW_TRIPLET}-gcc-ranlib-posix CACHE FILEPATH "")

# The dependency prefix. Try-compiles run in projects of their own: hand the variable on.
set(VELD_WINDOWS_DEPS "" CACHE PATH "Prefix built by tools/windows/deps")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES VELD_WINDOWS_DEPS)
if(NOT VELD_WINDOWS_DEPS AND DEFINED ENV{VELD_WINDOWS_DEPS})
  set(VELD_WINDOWS_DEPS "$ENV{VELD_WINDOWS_DEPS}")
endif()
if(NOT VELD_WINDOWS_DEPS OR NOT EXISTS "${VELD_WINDOWS_DEPS}/include")
  message(FATAL_ERROR "VELD_WINDOWS_DEPS must name the prefix tools/windows/deps built "
                      "(got '${VELD_WINDOWS_DEPS}'); tools/windows/deps prints it")
endif()

# Look for libraries and headers only in the prefix and in mingw-w64's own tree (zlib from
# libz-mingw-w64-dev); programs (flatc, python3) come from the host.
set(CMAKE_FIND_ROOT_PATH "${VELD_WINDOWS_DEPS}" /usr/${VELD_MINGW_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Static archives only: the .exe files carry their libraries and need no DLL beside them.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)

# pkg-config sees the prefix's .pc files and never the host's.
set(ENV{PKG_CONFIG_LIBDIR} "${VELD_WINDOWS_DEPS}/lib/pkgconfig:${VELD_WINDOWS_DEPS}/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
set(PKG_CONFIG_ARGN --static CACHE STRING "" FORCE)

# Everything linked statically (GCC's runtime, libstdc++, winpthread, the prefix's libraries):
# the .exe files need no DLL beside them beyond Windows' own.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")
# The prefix's libraries are static archives: their headers must not ask for
# __declspec(dllimport).
set(VELD_WINDOWS_STATIC_DEFINES "-DCURL_STATICLIB -DSODIUM_STATIC -DFRIBIDI_LIB_STATIC -DFLAC__NO_DLL")
set(CMAKE_C_FLAGS_INIT "${VELD_WINDOWS_STATIC_DEFINES}")
set(CMAKE_CXX_FLAGS_INIT "${VELD_WINDOWS_STATIC_DEFINES}")

# ctest runs the test programs under Wine (Debian's wine64 keeps its loader in /usr/lib/wine).
find_program(VELD_WINE64 NAMES wine64 wine PATHS /usr/lib/wine)
if(VELD_WINE64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${VELD_WINE64}")
endif()
