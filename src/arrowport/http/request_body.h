#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/memory_budget.h"

namespace arrow::util {
class Decompressor;
}  // namespace arrow::util

namespace arrowport::http {

/// Why a request body ended before it was complete, for the connection the calling thread
/// serves: RequestTimedOut (408) when its client sent nothing for http.read_timeout_s,
/// else Invalid (400: the client left, or sent a malformed body).
arrow::Status IncompleteBody();

/// What a body reader does with each decoded piece of a body; an error stops the read.
using BodyReceiver = std::function<arrow::Status(const char* data, size_t length)>;

/// \brief Undoes a request body's Content-Encoding (gzip or zstd) piece by piece, and
/// knows whether the coded stream reached its end: a body cut short at a flush point
/// decodes cleanly up to the cut, and only its missing end tells it apart.
class BodyDecoder {
 public:
  /// `coding` as RequestBodyCoding gives it: "gzip" or "zstd". With `charge` (which must
  /// outlive the decoder), what the decoder holds is charged to it as it is used: its
  /// output piece and zlib's state at once, libzstd's allocations (a frame's window, up
  /// to 8 MiB) as bytes pass through them. ResourceExhausted (503) when the budget is
  /// spent; the charge is the caller's to give back.
  static arrow::Result<BodyDecoder> Make(const std::string& coding,
                                         MemoryBudget::Reservation* charge = nullptr);

  /// Decodes `length` coded bytes, handing `receive` what they decode to, in pieces of
  /// at most 64 KiB (a limit checked in `receive` stops a compression bomb within one
  /// piece). Several gzip members or zstd frames in a row are one body, as RFC 1952 has it.
  arrow::Status Decode(const char* data, size_t length, const BodyReceiver& receive);

  /// Invalid (400) unless the coded stream ended where the body ended.
  arrow::Status Finish() const;


 private:
  BodyDecoder(std::string coding, std::shared_ptr<arrow::util::Decompressor> decompressor,
              std::function<int64_t()> allocated, int64_t empty,
              MemoryBudget::Reservation* charge);
  arrow::Status ChargeHeld();

  std::string coding_;
  std::shared_ptr<arrow::util::Decompressor> decompressor_;
  std::function<int64_t()> allocated_;  // what the decompressor allocated so far
  int64_t empty_bytes_;                 // of it, before any byte passed through
  MemoryBudget::Reservation* charge_;   // may be null
  int64_t charged_ = 0;
  std::vector<uint8_t> out_;
  int64_t decoded_from_ = 0;  // coded bytes taken so far: where a corrupt one is
  int64_t decoded_to_ = 0;    // decoded bytes handed on so far
  bool finished_ = false;     // the last member or frame reached its end
};

/// \brief Reads a request body through cpp-httplib's ContentReader, undoing the
/// Content-Encoding the gateway settled before routing (kBodyCoding), and hands
/// `receive` the decoded bytes as they arrive. OK once the whole body arrived and its
/// coded stream reached its end; else the error `receive` returned, IncompleteBody()
/// when the body did not arrive, or Invalid (400) when its coding is corrupt or cut short.
/// `limit` (decoded bytes, checked by `receive`) and `limit_name` bound the coded bytes
/// too, as a declared Content-Length is bounded before routing: empty gzip members or
/// zstd frames decode to nothing, so a chunked body of them was never stopped by its
/// decoded size. More than `limit` coded bytes is TooLarge (413).
/// With `budget` (the server-wide memory budget), the decoder's memory is charged to it
/// while the body is read (BodyDecoder::Make; ResourceExhausted, 503, when it is spent),
/// and given back before this returns.
arrow::Status ReadBody(const httplib::Request& req, const httplib::ContentReader& content,
                       int64_t limit, const std::string& limit_name,
                       const BodyReceiver& receive, MemoryBudget* budget = nullptr);

/// \brief Reads a whole request body (ReadBody), counting the decoded bytes as they
/// arrive, and stops reading as soon as they pass `limit`: a compressed or chunked body
/// cannot make the server buffer more than `limit` bytes. Returns TooLarge (413) naming
/// `limit_name`, or what ReadBody returns.
/// With `charge` (a reservation of the server-wide memory budget), the body's bytes are
/// charged to it as they arrive, and its decoder's while it decodes: ResourceExhausted
/// (503) when the budget is spent.
arrow::Result<std::string> ReadBodyLimited(const httplib::Request& req,
                                           const httplib::ContentReader& content, int64_t limit,
                                           const std::string& limit_name,
                                           MemoryBudget::Reservation* charge = nullptr);

}  // namespace arrowport::http
