# GNU FriBidi: static (its fribidi.pc defines FRIBIDI_LIB_STATIC); no programs, tests or docs.
meson_build --wrap-mode=nodownload -Ddocs=false -Dbin=false -Dtests=false
