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
