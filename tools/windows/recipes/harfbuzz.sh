# HarfBuzz: static, with FreeType; no GLib, ICU, Cairo or Graphite (without GLib it builds no
# programs). Meson never downloads a subproject here.
meson_build --wrap-mode=nodownload -Dfreetype=enabled -Dglib=disabled -Dgobject=disabled \
  -Dcairo=disabled -Dchafa=disabled -Dicu=disabled -Dgraphite2=disabled -Dgdi=disabled \
  -Ddirectwrite=disabled -Dtests=disabled -Dintrospection=disabled -Ddocs=disabled \
  -Dbenchmark=disabled -Dexperimental_api=false
