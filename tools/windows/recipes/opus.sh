# Opus: static, no docs or extra programs. _FORTIFY_SOURCE stays off (its checked functions
# would need mingw-w64's libssp in every program).
CPPFLAGS="$CPPFLAGS -D_FORTIFY_SOURCE=0" autotools_build --disable-doc --disable-extra-programs \
  --disable-stack-protector
