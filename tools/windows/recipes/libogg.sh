# libogg: static (libvorbis, flac and opus read Ogg through it).
autotools_build
