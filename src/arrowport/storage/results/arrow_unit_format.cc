#include "arrowport/storage/results/arrow_unit_format.h"

#include <duckdb/common/arrow/arrow_appender.hpp>
#include <duckdb/common/exception.hpp>
#include <duckdb/common/uhugeint.hpp>
#include <duckdb/common/vector/array_vector.hpp>
#include <duckdb/common/vector/list_vector.hpp>
#include <duckdb/common/vector/struct_vector.hpp>
#include <duckdb/common/vector/unified_vector_format.hpp>

#include <algorithm>
#include <deque>

namespace arrowport::storage {

namespace {

// 10^38: DuckDB's DECIMAL(38, 0) holds up to 10^38 - 1.
constexpr duckdb::uhugeint_t kArrowDecimalBound(0x4B3B4CA85A86C47AULL, 0x098A224000000000ULL);

bool ContainsUhugeint(const duckdb::LogicalType& type) {
  switch (type.InternalType()) {
    case duckdb::PhysicalType::UINT128:
      return type.id() == duckdb::LogicalTypeId::UHUGEINT;
    case duckdb::PhysicalType::LIST:
      return ContainsUhugeint(duckdb::ListType::GetChildType(type));
    case duckdb::PhysicalType::ARRAY:
      return ContainsUhugeint(duckdb::ArrayType::GetChildType(type));
    case duckdb::PhysicalType::STRUCT:  // a union's members too
      for (const auto& child : duckdb::StructType::GetChildTypes(type)) {
        if (ContainsUhugeint(child.second)) return true;
      }
      return false;
    default:
      return false;
  }
}

// `count` rows of `vector`, whose type contains a UHUGEINT. A nested vector is made flat
// first: a constant or dictionary one's children hold fewer entries than its rows (a
// constant UHUGEINT[2] over 2,048 rows was read past its child's end).
void RefuseUhugeintsIn(duckdb::Vector& vector, duckdb::idx_t count) {
  using duckdb::PhysicalType;
  const auto& type = vector.GetType();
  if (type.InternalType() == PhysicalType::UINT128) {
    duckdb::UnifiedVectorFormat format;
    vector.ToUnifiedFormat(format);
    const auto* values = duckdb::UnifiedVectorFormat::GetData<duckdb::uhugeint_t>(format);
    for (duckdb::idx_t i = 0; i < count; ++i) {
      const auto index = format.sel->get_index(i);
      if (format.validity.RowIsValid(index) && values[index] >= kArrowDecimalBound) {
        throw duckdb::InvalidInputException(
            "a UHUGEINT value of 10^38 or more (" + values[index].ToString() +
            ") cannot be sent as Arrow: DuckDB exports UHUGEINT as decimal128(38, 0); "
            "cast the column to VARCHAR");
      }
    }
    return;
  }
  vector.Flatten();
  switch (type.InternalType()) {
    case PhysicalType::LIST: {
      auto& child = duckdb::ListVector::GetChildMutable(vector);
      if (ContainsUhugeint(child.GetType())) {
        RefuseUhugeintsIn(child, duckdb::ListVector::GetListSize(vector));
      }
      return;
    }
    case PhysicalType::STRUCT:
      for (auto& child : duckdb::StructVector::GetEntries(vector)) {
        if (ContainsUhugeint(child.GetType())) RefuseUhugeintsIn(child, count);
      }
      return;
    case PhysicalType::ARRAY: {
      auto& child = duckdb::ArrayVector::GetChildMutable(vector);
      if (ContainsUhugeint(child.GetType())) {
        RefuseUhugeintsIn(child, count * duckdb::ArrayType::GetSize(type));
      }
      return;
    }
    default:
      return;
  }
}

// What a value of a type the estimate below does not walk is taken to weigh in Arrow.
constexpr duckdb::idx_t kOtherValueBytes = 64;

class ArrowUnit : public duckdb::ResultUnit {
 public:
  ArrowUnit(duckdb::idx_t rows, duckdb::idx_t bytes,
            duckdb::unique_ptr<duckdb::ArrowArrayWrapper> array)
      : duckdb::ResultUnit(rows, bytes), array(std::move(array)) {}

  duckdb::unique_ptr<duckdb::ArrowArrayWrapper> array;
};

// One producer's state: the unit being built and those finished, not yet taken.
struct ArrowUnitLocal : duckdb::ResultFormatLocalState {
  explicit ArrowUnitLocal(bool sizable) : sizable(sizable) {}

  const bool sizable;  // see FlatColumns
  duckdb::unique_ptr<duckdb::ArrowAppender> appender;  // created with a unit's first rows
  std::deque<duckdb::unique_ptr<ArrowUnit>> finished;
  // The last unit ended full (at a cap), so the next one likely fills too and is sized
  // for it. A unit that ends early (the producer's end, a selective query's row group)
  // would keep a full unit's buffers for a few rows that nothing counts.
  bool filling = false;

  void Finish(bool full) {
    filling = full && sizable;
    // The sizes are the appender's until Finalize hands its buffers to the array.
    const duckdb::idx_t rows = appender->RowCount();
    const duckdb::idx_t bytes = appender->ByteSize();
    auto array = duckdb::make_uniq<duckdb::ArrowArrayWrapper>();
    array->arrow_array = appender->Finalize();
    appender.reset();
    finished.push_back(duckdb::make_uniq<ArrowUnit>(rows, bytes, std::move(array)));
  }
};

// Whether a unit's buffers can be sized from a row's width: every column fixed-width or a
// string or blob, each buffer then reserved for the unit's rows. A list's appender hands
// its row capacity on to its child, so a list of 18,000-element arrays sized for 122,880
// rows (its first rows empty, narrow) asked for 32 GiB: nested columns grow as rows come.
bool FlatColumns(const duckdb::vector<duckdb::LogicalType>& types) {
  return std::all_of(types.begin(), types.end(), [](const duckdb::LogicalType& type) {
    const auto physical = type.InternalType();
    return duckdb::TypeIsConstantSize(physical) || physical == duckdb::PhysicalType::VARCHAR;
  });
}

// About the bytes `rows` entries of `vector` take as Arrow: fixed widths exactly, strings
// and blobs by their lengths (NULLs by their offset alone), lists what their rows name
// (DuckDB's lists may share one child range, Arrow repeats it), arrays and structs what
// they hold; a shared dictionary or constant counts per row.
duckdb::idx_t ArrowBytesOf(const duckdb::Vector& vector, duckdb::idx_t rows) {
  using duckdb::PhysicalType;
  const auto physical = vector.GetType().InternalType();
  if (duckdb::TypeIsConstantSize(physical)) return rows * duckdb::GetTypeIdSize(physical);
  switch (physical) {
    case PhysicalType::VARCHAR: {
      duckdb::UnifiedVectorFormat format;
      vector.ToUnifiedFormat(format);
      const auto* strings = duckdb::UnifiedVectorFormat::GetData<duckdb::string_t>(format);
      duckdb::idx_t bytes = rows * sizeof(int32_t);
      for (duckdb::idx_t i = 0; i < rows; ++i) {
        const auto index = format.sel->get_index(i);
        if (format.validity.RowIsValid(index)) bytes += strings[index].GetSize();
      }
      return bytes;
    }
    case PhysicalType::LIST: {
      // Arrow repeats what rows share (DuckDB's lists may all point at one child range):
      // the entries the rows name, at the child's average entry size.
      duckdb::UnifiedVectorFormat format;
      vector.ToUnifiedFormat(format);
      const auto* lists = duckdb::UnifiedVectorFormat::GetData<duckdb::list_entry_t>(format);
      duckdb::idx_t entries = 0;
      for (duckdb::idx_t i = 0; i < rows; ++i) {
        const auto index = format.sel->get_index(i);
        if (format.validity.RowIsValid(index)) entries += lists[index].length;
      }
      const duckdb::idx_t child_entries = duckdb::ListVector::GetListSize(vector);
      const duckdb::idx_t child_bytes =
          child_entries == 0 ? 0
                             : ArrowBytesOf(duckdb::ListVector::GetChild(vector), child_entries);
      return rows * sizeof(int32_t) +
             (child_entries == 0 ? 0 : entries * (child_bytes / child_entries + 1));
    }
    case PhysicalType::ARRAY:
      return ArrowBytesOf(duckdb::ArrayVector::GetChild(vector),
                          duckdb::ArrayVector::GetTotalSize(vector));
    case PhysicalType::STRUCT: {
      duckdb::idx_t bytes = rows / 8 + 1;
      for (const auto& child : duckdb::StructVector::GetEntries(vector)) {
        bytes += ArrowBytesOf(child, rows);
      }
      return bytes;
    }
    default:
      return rows * kOtherValueBytes;
  }
}

}  // namespace

ArrowUnitFormat::ArrowUnitFormat(duckdb::idx_t unit_rows, duckdb::idx_t unit_bytes)
    : unit_rows_(std::max<duckdb::idx_t>(unit_rows, 1)),
      unit_bytes_(std::max<duckdb::idx_t>(unit_bytes, 1)) {}

const char* ArrowUnitFormat::Name() const { return NAME; }

duckdb::unique_ptr<duckdb::ResultFormatGlobalState> ArrowUnitFormat::InitGlobal(
    const duckdb::ResultFormatContext& context) {
  return duckdb::make_uniq<GlobalState>(context);
}

duckdb::unique_ptr<duckdb::ResultFormatLocalState> ArrowUnitFormat::InitLocal(
    duckdb::ResultFormatGlobalState& gstate) {
  return duckdb::make_uniq<ArrowUnitLocal>(FlatColumns(gstate.Cast<GlobalState>().Types()));
}

duckdb::idx_t RowsToReserve(bool last_unit_full, duckdb::idx_t row_bytes,
                            duckdb::idx_t rows_left, duckdb::idx_t unit_rows,
                            duckdb::idx_t unit_bytes) {
  const duckdb::idx_t fitting =
      last_unit_full ? unit_bytes / std::max<duckdb::idx_t>(row_bytes, 1) : 0;
  return std::min(unit_rows, std::max(rows_left, fitting));
}

void RefuseUhugeintsBeyondArrow(duckdb::DataChunk& chunk) {
  for (auto& vector : chunk.data) {
    if (ContainsUhugeint(vector.GetType())) RefuseUhugeintsIn(vector, chunk.size());
  }
}

void ArrowUnitFormat::AppendToUnit(duckdb::ResultFormatGlobalState& gstate,
                                   duckdb::ResultFormatLocalState& lstate,
                                   duckdb::DataChunk& chunk) {
  RefuseUhugeintsBeyondArrow(chunk);
  auto& global = gstate.Cast<GlobalState>();
  auto& local = lstate.Cast<ArrowUnitLocal>();
  const duckdb::idx_t count = chunk.size();
  duckdb::idx_t done = 0;
  while (done < count) {
    if (!local.appender) {
      duckdb::idx_t bytes = 0;  // the width of a row, worth reading only after a full unit
      if (local.filling) {
        for (const auto& vector : chunk.data) bytes += ArrowBytesOf(vector, count);
      }
      const duckdb::idx_t rows =
          RowsToReserve(local.filling, bytes / count, count - done, unit_rows_, unit_bytes_);
      local.appender = duckdb::make_uniq<duckdb::ArrowAppender>(
          global.Types(), rows, global.Properties(), global.ExtensionTypes());
    }
    const duckdb::idx_t take = std::min(unit_rows_ - local.appender->RowCount(), count - done);
    local.appender->Append(chunk, done, done + take, count);
    done += take;
    if (local.appender->RowCount() >= unit_rows_ || local.appender->ByteSize() >= unit_bytes_) {
      local.Finish(/*full=*/true);
    }
  }
}

bool ArrowUnitFormat::IsUnitFinished(duckdb::ResultFormatLocalState& lstate) {
  return !lstate.Cast<ArrowUnitLocal>().finished.empty();
}

duckdb::unique_ptr<duckdb::ResultUnit> ArrowUnitFormat::FinishUnit(
    duckdb::ResultFormatGlobalState&, duckdb::ResultFormatLocalState& lstate) {
  auto& local = lstate.Cast<ArrowUnitLocal>();
  if (local.finished.empty()) {
    // None finished: the partial unit, if it holds rows (never an empty one).
    if (!local.appender || local.appender->RowCount() == 0) return nullptr;
    local.Finish(/*full=*/false);
  }
  auto unit = std::move(local.finished.front());
  local.finished.pop_front();
  return unit;
}

duckdb::unique_ptr<duckdb::ArrowArrayWrapper> ArrowUnitFormat::UnpackUnit(
    duckdb::unique_ptr<duckdb::ResultUnit> unit) {
  if (!unit) return nullptr;
  return std::move(unit->Cast<ArrowUnit>().array);
}

}  // namespace arrowport::storage
