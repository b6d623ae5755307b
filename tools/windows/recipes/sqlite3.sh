# SQLite: the amalgamation (generated on the build machine with the source's own tools), then
# compiled for Windows into a static libsqlite3.a with the compile-time options Debian's
# libsqlite3 uses, so that the store behaves as on Linux (threadsafe, JSON, FTS3/4/5, R-tree,
# secure delete, math functions); no Tcl, no readline, no extension loading.
mkdir _host
(cd _host && env -u CC -u CXX -u AR -u RANLIB -u NM -u STRIP -u CPPFLAGS -u CFLAGS -u LDFLAGS \
  -u PKG_CONFIG_LIBDIR ../configure --disable-tcl --disable-readline --disable-editline \
  --enable-fts4 --enable-fts5 && make sqlite3.c sqlite3.h)
sqlite_defines="-DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_FTS3
  -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE=1
  -DSQLITE_SOUNDEX=1 -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_OMIT_LOOKASIDE=1
  -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ALLOW_ROWID_IN_VIEW -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1
  -DSQLITE_ENABLE_JSON1 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI=1
  -DSQLITE_MAX_SCHEMA_RETRY=25 -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_SESSION
  -DSQLITE_ENABLE_STMTVTAB -DSQLITE_MAX_VARIABLE_NUMBER=250000 -DSQLITE_ENABLE_MATH_FUNCTIONS
  -DSQLITE_OMIT_LOAD_EXTENSION=1"
# shellcheck disable=SC2086
"$CC" $CFLAGS -fno-strict-aliasing $sqlite_defines -c _host/sqlite3.c -o _host/sqlite3.o
"$AR" rcs libsqlite3.a _host/sqlite3.o
install -m 0644 _host/sqlite3.h src/sqlite3ext.h "$PREFIX/include/"
install -m 0644 libsqlite3.a "$PREFIX/lib/"
write_pc sqlite3 "$(cat VERSION)" -lsqlite3
