#pragma once

// Internal to query (result_writer.cc, json_result.cc): text formats made on every core.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "arrow/io/type_fwd.h"
#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::query {

/// \brief Appends a blob as DuckDB writes it as text (COPY ... (FORMAT csv), `::VARCHAR`):
/// printable ASCII as it is, every other byte and \ " ' as \xHH. CSV and JSON write
/// binary columns so: as UTF-8 text their bytes were lost (JSON replaced them by U+FFFD).
void AppendBlobText(std::string_view bytes, std::string* out);

/// \brief A large_utf8 column of `column`'s text: null where it is null, else what
/// `append(i, &text)` appends for value `i` (an error ends it). CSV's own text of blobs,
/// BIGNUMs and VARIANTs.
arrow::Result<std::shared_ptr<arrow::Array>> TextColumn(
    const arrow::Array& column,
    const std::function<arrow::Status(int64_t i, std::string* text)>& append);

/// \brief Appends `text` as a JSON string, serialized by nlohmann as every string of the
/// JSON result is: its escapes, and invalid UTF-8 replaced by U+FFFD.
void AppendJsonString(std::string_view text, std::string* out);

/// The text of `piece` (some rows of a batch), whose first row is the result's
/// `first_row`-th (0-based).
using PieceText = std::function<arrow::Result<std::shared_ptr<arrow::Buffer>>(
    const std::shared_ptr<arrow::RecordBatch>& piece, int64_t first_row)>;

/// How many rows a piece has: at most `max_rows`, and about `arrow_bytes` of the batch's
/// Arrow data (a batch of wide rows, up to 8 MiB, is cut finer: the text of the pieces in
/// flight stays a few MiB whatever the rows hold).
struct PieceSize {
  int64_t max_rows;
  int64_t arrow_bytes;
};

/// \brief Writes every row of `reader` to `sink` as text: each batch cut in pieces
/// (`size`), made into text by `text_of` on Arrow's CPU pool, a few at once, and written
/// in order. Returns the rows written.
///
/// A text writer on the writing thread alone formats on one core while DuckDB converts
/// the rows on all of them. The next batch is asked for only once the last one is
/// written: a write whose rows stream back commits when its last batch is asked past
/// (see ResultBatchReader), so after its rows went to the client's transport. On an
/// error the text made before it goes out (while the sink takes it), then `unfinished`
/// (may be empty), and the sink is aborted.
arrow::Result<int64_t> WriteTextPieces(arrow::RecordBatchReader* reader, PieceSize size,
                                       const PieceText& text_of, std::string_view unfinished,
                                       const std::shared_ptr<arrow::io::OutputStream>& sink);

}  // namespace arrowport::query
