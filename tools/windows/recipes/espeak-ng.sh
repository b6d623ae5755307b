# eSpeak NG: libespeak-ng only, static, synthesising into the caller's buffers (no audio output
# of its own: no pcaudiolib), no sonic, no Klatt/speechPlayer, no programs. Its voice data is
# arch-independent: Debian's espeak-ng-data, built on Linux from this same source.
autoreconf -fi
autotools_build --with-pcaudiolib=no --with-sonic=no --with-speechplayer=no --with-async=no \
  --with-mbrola=no --with-extdict-ru=no --with-extdict-zh=no --with-extdict-zhy=no
