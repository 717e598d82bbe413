#pragma once

// Internal to storage: the one owner of DuckDB C API handles.

#include <duckdb.h>

#include <utility>

#include "arrowport/storage/memory/allocation_guard.h"

namespace arrowport::storage {

/// \brief Owns one DuckDB C handle and destroys it with `Destroy` (DuckDB's
/// `duckdb_destroy_*(T*)` functions), like ADBC's Handle<T> or nanoarrow's UniqueSchema.
/// Move-only. `out()` hands the address to C functions that fill an out-parameter: the
/// handle then owns whatever they wrote, which DuckDB requires destroying even when the
/// call failed (prepare, query, appender).
template <typename T, auto Destroy>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T value) : value_(value), owned_(true) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept
      : value_(std::exchange(other.value_, T{})), owned_(std::exchange(other.owned_, false)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      value_ = std::exchange(other.value_, T{});
      owned_ = std::exchange(other.owned_, false);
    }
    return *this;
  }
  ~Handle() { reset(); }

  /// The handle, still owned here.
  T get() const { return value_; }
  /// Address of the value (for C functions that read a `T*`, such as duckdb_result).
  T* ptr() { return &value_; }
  /// Destroys what is held and returns the slot for a C function to fill.
  T* out() {
    reset();
    owned_ = true;
    return &value_;
  }
  void reset() {
    if (owned_) (void)Destroy(&value_);
    owned_ = false;
    value_ = T{};
  }

 private:
  T value_{};
  bool owned_ = false;
};

using ResultHandle = Handle<duckdb_result, &duckdb_destroy_result>;
/// A prepared statement: its plan's memory stops counting when it is destroyed.
using PreparedHandle = Handle<duckdb_prepared_statement, &DestroyPrepared>;
using PendingHandle = Handle<duckdb_pending_result, &duckdb_destroy_pending>;
using LogicalTypeHandle = Handle<duckdb_logical_type, &duckdb_destroy_logical_type>;
using ArrowOptionsHandle = Handle<duckdb_arrow_options, &duckdb_destroy_arrow_options>;
using DataChunkHandle = Handle<duckdb_data_chunk, &duckdb_destroy_data_chunk>;
using AppenderHandle = Handle<duckdb_appender, &duckdb_appender_destroy>;
using ConvertedSchemaHandle =
    Handle<duckdb_arrow_converted_schema, &duckdb_destroy_arrow_converted_schema>;
using ConfigHandle = Handle<duckdb_config, &duckdb_destroy_config>;
using ClientContextHandle = Handle<duckdb_client_context, &duckdb_destroy_client_context>;
using TableDescriptionHandle =
    Handle<duckdb_table_description, &duckdb_table_description_destroy>;
using ConnectionHandle = Handle<duckdb_connection, &duckdb_disconnect>;
using DatabaseHandle = Handle<duckdb_database, &duckdb_close>;

}  // namespace arrowport::storage
