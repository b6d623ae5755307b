# Opus: static, no docs or extra programs.
autotools_build --disable-doc --disable-extra-programs --disable-stack-protector
