#include "arrowport/query/result_writer.h"
#include "arrowport/query/bignum_text.h"
#include "arrowport/query/json_result.h"
#include "arrowport/query/text_pieces.h"
#include "arrowport/query/time_text.h"
#include "arrowport/query/variant_text.h"

#include <string_view>

#include <parquet/arrow/writer.h>

#include <algorithm>
#include <string>
#include <vector>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/csv/writer.h"
#include "arrow/io/interfaces.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/writer.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/type.h"

namespace arrowport::query {

arrow::Result<ResultFormat> ParseResultFormat(std::string_view name) {
  if (name == "arrow" || name == "arrows" || name == "ipc" || name == "stream") {
    return ResultFormat::kArrowStream;
  }
  if (name == "arrow-file" || name == "feather") return ResultFormat::kArrowFile;
  if (name == "parquet") return ResultFormat::kParquet;
  if (name == "csv") return ResultFormat::kCsv;
  if (name == "json") return ResultFormat::kJson;
  if (name == "table") return ResultFormat::kTable;
  return arrow::Status::Invalid("unknown format '", std::string(name),
                                "' (known: table, csv, json, parquet, arrow, arrow-file)");
}

// Writes every batch of `reader` with `writer` (IPC, CSV or Parquet writer) and closes it.
// On an error the sink is aborted first: the writer's destructor would otherwise finish
// the file (Arrow end-of-stream marker, Parquet footer) and a cut result would look whole.
//
// Formats whose cut can still parse end what was sent with `unfinished` first: an Arrow
// stream cut at a message boundary reads as complete (its end marker is optional), so it
// gets the start of a message that never comes; a CSV cut at a line end, a quoted field
// that never closes. Written through the sink (and its compression), then flushed.
template <typename Writer>
arrow::Result<int64_t> DrainInto(arrow::RecordBatchReader* reader, Writer* writer,
                                 const std::shared_ptr<arrow::io::OutputStream>& sink,
                                 std::string_view unfinished = {}) {
  int64_t rows = 0;
  auto st = [&]() -> arrow::Status {
    for (;;) {
      ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
      if (!batch) break;
      rows += batch->num_rows();
      ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
    }
    return writer->Close();
  }();
  if (!st.ok()) {
    if (!unfinished.empty() && sink->Write(unfinished.data(), unfinished.size()).ok()) {
      (void)sink->Flush();
    }
    (void)sink->Abort();
    return st;
  }
  return rows;
}

// An IPC continuation marker and a 16 MiB metadata length, with no metadata after it.
constexpr char kUnfinishedArrowStream[] = "\xFF\xFF\xFF\xFF\x00\x00\x00\x01";
constexpr std::string_view kUnfinishedArrow(kUnfinishedArrowStream, 8);
constexpr std::string_view kUnfinishedCsv = "\n\"arrowport: the result failed here";

// Rows of a batch made into CSV text at once on a pool thread (about 1 MB of text).
constexpr PieceSize kCsvPiece{16384, 512 << 10};

// Blobs as DuckDB writes them into CSV (AppendBlobText). Arrow's CSV writer takes binary
// columns for UTF-8 text and failed on the first other byte, after the 200 and the rows
// before it. Large offsets: escaping can make a value 4 times longer.
template <typename BinaryArrayType>
arrow::Result<std::shared_ptr<arrow::Array>> BlobsAsText(const arrow::Array& column) {
  const auto& blobs = static_cast<const BinaryArrayType&>(column);
  return TextColumn(column, [&blobs](int64_t i, std::string* text) {
    AppendBlobText(blobs.GetView(i), text);
    return arrow::Status::OK();
  });
}

// Columns CSV gets as our text, not Arrow's: blobs (BlobsAsText), DuckDB's BIGNUM
// (bignum_text.h), and dates and timestamps when they hold values Arrow cannot write
// (time_text.h).
bool NeedsOwnText(const arrow::Field& field) {
  if (IsParquetVariant(field)) return true;
  const arrow::DataType& type = *field.type();
  switch (type.id()) {
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
    case arrow::Type::FIXED_SIZE_BINARY:
      return true;
    case arrow::Type::EXTENSION:
      return IsDuckDBBignum(type);
    default:
      return HasTimeText(type);
  }
}

// The schema Arrow's CSV writer is given: a BIGNUM column as the text it is written as,
// a VARIANT column as its JSON text.
std::shared_ptr<arrow::Schema> CsvSchema(const std::shared_ptr<arrow::Schema>& schema) {
  std::vector<std::shared_ptr<arrow::Field>> fields = schema->fields();
  bool changed = false;
  for (auto& field : fields) {
    if (!IsDuckDBBignum(*field->type()) && !IsParquetVariant(*field)) continue;
    field = field->WithType(arrow::large_utf8());
    changed = true;
  }
  return changed ? arrow::schema(std::move(fields), schema->metadata()) : schema;
}

// A column as our text (NeedsOwnText): blobs as DuckDB's text of them (BlobsAsText), a
// BIGNUM's digits, a VARIANT's JSON, dates and timestamps Arrow cannot write as ours
// (TimesAsTextWhereNeeded); null when Arrow writes the column as it is.
arrow::Result<std::shared_ptr<arrow::Array>> OwnText(const arrow::Field& field,
                                                     const std::shared_ptr<arrow::Array>& column) {
  if (IsParquetVariant(field)) return VariantsAsText(*column);
  switch (column->type_id()) {
    case arrow::Type::BINARY:
      return BlobsAsText<arrow::BinaryArray>(*column);
    case arrow::Type::LARGE_BINARY:
      return BlobsAsText<arrow::LargeBinaryArray>(*column);
    case arrow::Type::BINARY_VIEW:
      return BlobsAsText<arrow::BinaryViewArray>(*column);
    case arrow::Type::FIXED_SIZE_BINARY:
      return BlobsAsText<arrow::FixedSizeBinaryArray>(*column);
    case arrow::Type::EXTENSION:
      if (!IsDuckDBBignum(*column->type())) return nullptr;
      return BignumsAsText(*column);
    default: {
      if (!HasTimeText(*column->type())) return nullptr;
      ARROW_ASSIGN_OR_RAISE(auto text, TimesAsTextWhereNeeded(column));
      return text == column ? nullptr : text;  // Arrow writes all of these
    }
  }
}

// `batch` with the columns CSV gets as our text (OwnText), the rest as is.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> WithOwnText(
    const std::shared_ptr<arrow::RecordBatch>& batch) {
  std::vector<std::shared_ptr<arrow::Array>> columns = batch->columns();
  std::vector<std::shared_ptr<arrow::Field>> fields = batch->schema()->fields();
  bool changed = false;
  for (size_t i = 0; i < columns.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto text, OwnText(*fields[i], columns[i]));
    if (text == nullptr) continue;
    columns[i] = std::move(text);
    fields[i] = fields[i]->WithType(columns[i]->type());
    changed = true;
  }
  if (!changed) return batch;
  return arrow::RecordBatch::Make(arrow::schema(std::move(fields)), batch->num_rows(),
                                  std::move(columns));
}

// CSV: each batch is made into text in pieces on Arrow's CPU pool (WriteTextPieces): Arrow's
// CSV writer formats on the writing thread alone, so a read that DuckDB converts on every
// core was written out on one (1.1 cores busy, 1.6x slower).
arrow::Result<int64_t> WriteCsv(arrow::RecordBatchReader* reader,
                                const std::shared_ptr<arrow::io::OutputStream>& sink) {
  auto options = arrow::csv::WriteOptions::Defaults();
  // The header goes first, as Arrow's writer sends it (an empty result has one too); a
  // schema CSV cannot hold (nested columns) is refused here, before any row (the HTTP
  // gateway asks CheckFormatFits before its status line).
  ARROW_ASSIGN_OR_RAISE(auto no_rows,
                        arrow::RecordBatch::MakeEmpty(CsvSchema(reader->schema())));
  ARROW_RETURN_NOT_OK(arrow::csv::WriteCSV(*no_rows, options, sink.get()));
  options.include_header = false;
  const auto& fields = reader->schema()->fields();
  const bool own_text = std::any_of(fields.begin(), fields.end(), [](const auto& field) {
    return NeedsOwnText(*field);
  });
  auto text_of = [options, own_text](const std::shared_ptr<arrow::RecordBatch>& rows, int64_t)
      -> arrow::Result<std::shared_ptr<arrow::Buffer>> {
    std::shared_ptr<arrow::RecordBatch> piece = rows;
    if (own_text) {
      ARROW_ASSIGN_OR_RAISE(piece, WithOwnText(piece));
    }
    ARROW_ASSIGN_OR_RAISE(auto out, arrow::io::BufferOutputStream::Create());
    ARROW_RETURN_NOT_OK(arrow::csv::WriteCSV(*piece, options, out.get()));
    return out->Finish();
  };
  return WriteTextPieces(reader, kCsvPiece, text_of, kUnfinishedCsv, sink);
}

bool IsInterval(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INTERVAL_MONTHS:
    case arrow::Type::INTERVAL_DAY_TIME:
    case arrow::Type::INTERVAL_MONTH_DAY_NANO:
      return true;
    default:
      return false;
  }
}

arrow::Status CheckFormatFits(const std::shared_ptr<arrow::Schema>& schema,
                              ResultFormat format) {
  // The formats' own writers decide, made over a sink that only counts.
  auto sink = std::make_shared<arrow::io::MockOutputStream>();
  arrow::Status fits;
  const char* name = "";
  switch (format) {
    case ResultFormat::kCsv:
      name = "csv";
      fits = arrow::csv::MakeCSVWriter(sink, CsvSchema(schema)).status();
      // Arrow's writer takes an interval column and fails at its first row, after the
      // 200 and the header (a hostile run).
      for (const auto& field : schema->fields()) {
        if (fits.ok() && IsInterval(*field->type())) {
          fits = arrow::Status::TypeError("column '", field->name(), "' is an interval (",
                                          field->type()->ToString(),
                                          "), which Arrow's CSV writer cannot write; cast it "
                                          "to VARCHAR for DuckDB's text of it");
        }
      }
      break;
    case ResultFormat::kParquet:
      name = "parquet";
      fits = parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(), sink)
                 .status();
      break;
    default:
      return arrow::Status::OK();
  }
  if (fits.ok()) return fits;
  return arrow::Status::Invalid("format '", name, "' cannot hold this result (",
                                fits.message(), "); ask for format=arrow or format=json");
}

arrow::Status CheckValuesFit(const arrow::RecordBatch* batch, ResultFormat format) {
  if (batch == nullptr || (format != ResultFormat::kJson && format != ResultFormat::kCsv)) {
    return arrow::Status::OK();
  }
  for (int c = 0; c < batch->num_columns(); ++c) {
    ARROW_RETURN_NOT_OK(CheckBignumsFitText(*batch->column(c)));
    // A variant that cannot be written (malformed, or text past the cap): 400, not a cut.
    if (IsParquetVariant(*batch->schema()->field(c))) {
      ARROW_RETURN_NOT_OK(CheckVariantsWritable(*batch->column(c)));
    }
  }
  return arrow::Status::OK();
}

arrow::Result<int64_t> WriteResult(arrow::RecordBatchReader* reader, ResultFormat format,
                                   const std::shared_ptr<arrow::io::OutputStream>& sink) {
  switch (format) {
    case ResultFormat::kJson:
      return WriteJson(reader, sink);
    case ResultFormat::kTable:
      // Fitted to a terminal: the CLI's own (cli/text_table.h).
      return arrow::Status::Invalid("format 'table' is written by the CLI");
    case ResultFormat::kArrowStream: {
      ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, reader->schema()));
      return DrainInto(reader, writer.get(), sink, kUnfinishedArrow);
    }
    case ResultFormat::kArrowFile: {
      ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(sink, reader->schema()));
      return DrainInto(reader, writer.get(), sink);
    }
    case ResultFormat::kCsv:
      return WriteCsv(reader, sink);
    case ResultFormat::kParquet: {
      auto props = parquet::WriterProperties::Builder()
                       .compression(parquet::Compression::ZSTD)
                       ->build();
      // Columns are encoded on Arrow's CPU pool, in parallel (a row group per batch).
      auto arrow_props =
          parquet::ArrowWriterProperties::Builder().store_schema()->set_use_threads(true)->build();
      ARROW_ASSIGN_OR_RAISE(auto writer,
                            parquet::arrow::FileWriter::Open(*reader->schema(),
                                                             arrow::default_memory_pool(),
                                                             sink, props, arrow_props));
      return DrainInto(reader, writer.get(), sink);
    }
  }
  return arrow::Status::Invalid("unsupported format");
}

}  // namespace arrowport::query
