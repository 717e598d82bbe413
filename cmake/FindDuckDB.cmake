# Debian's DuckDBConfig.cmake references static extension archives it does not ship, so the
# library and headers are found directly and exposed as the IMPORTED target DuckDB::duckdb.
find_path(DuckDB_INCLUDE_DIR NAMES duckdb.hpp duckdb.h)
find_library(DuckDB_LIBRARY NAMES duckdb)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(DuckDB REQUIRED_VARS DuckDB_LIBRARY DuckDB_INCLUDE_DIR)
if(DuckDB_FOUND AND NOT TARGET DuckDB::duckdb)
  add_library(DuckDB::duckdb SHARED IMPORTED)
  set_target_properties(DuckDB::duckdb PROPERTIES
    IMPORTED_LOCATION "${DuckDB_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${DuckDB_INCLUDE_DIR}")
endif()
mark_as_advanced(DuckDB_INCLUDE_DIR DuckDB_LIBRARY)

# The library version the build was made against: storage/database/direct_append.cc uses
# DuckDB's C++ internals, which may change in a patch release without breaking the build,
# so the server compares this with duckdb_library_version() at start.
if(DuckDB_FOUND AND NOT DuckDB_VERSION_STRING)
  file(WRITE "${CMAKE_BINARY_DIR}/duckdb_version_probe.c"
    "#include <duckdb.h>\n#include <stdio.h>\nint main(void){printf(\"%s\", duckdb_library_version());return 0;}\n")
  try_run(_duckdb_run _duckdb_compiled "${CMAKE_BINARY_DIR}/duckdb_version_probe"
    SOURCES "${CMAKE_BINARY_DIR}/duckdb_version_probe.c"
    CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${DuckDB_INCLUDE_DIR}"
    LINK_LIBRARIES "${DuckDB_LIBRARY}"
    RUN_OUTPUT_VARIABLE _duckdb_version)
  if(_duckdb_compiled AND _duckdb_run EQUAL 0)
    set(DuckDB_VERSION_STRING "${_duckdb_version}" CACHE STRING "DuckDB library version at build time")
  endif()
endif()
