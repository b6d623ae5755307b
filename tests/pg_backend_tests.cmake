# Read by ctest after the discovered tests (tests/CMakeLists.txt): the PostgreSQL run of the
# sync tests leaves out the tests about the SQLite file itself and the PostgreSQL backend's own
# tests (they already ran once). ctest lists them as disabled, never as passed.
foreach(test ${VELD_PG_SYNC_TESTS})
  if(test MATCHES "^pg:(sqlite-file:|postgres)")
    set_tests_properties("${test}" PROPERTIES DISABLED TRUE)
  endif()
endforeach()
