# Every dependency comes from Debian's packages; nothing is downloaded or vendored.
find_package(SQLite3 REQUIRED)
find_package(FlatBuffers CONFIG REQUIRED)
find_package(Threads REQUIRED)
