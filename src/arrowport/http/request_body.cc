#include "arrowport/http/request_body.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "arrow/util/compression.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/negotiation.h"

namespace arrowport::http {

namespace {
// Decoded bytes handed on at a time: the most a limit checked per piece can be passed by.
constexpr size_t kDecodedPieceBytes = 64 * 1024;
// The largest zstd window a body may need (8 MiB: zstd's levels up to 19; 20-22 and
// --long ask for up to 128 MiB, which libzstd would allocate per upload, counted nowhere).
constexpr int kZstdWindowLogMax = 23;
// zlib's inflate state and its 32 KiB window (gzip's decoder does not tell its size).
constexpr int64_t kInflateBytes = int64_t{48} << 10;

// A zstd stream decoder on libzstd itself, as Arrow's is, with the window bounded:
// Arrow's takes whatever window a frame declares (an attack held 138 MiB per upload with
// a 7 KiB body).
class BoundedZstdDecompressor : public arrow::util::Decompressor {
 public:
  static arrow::Result<std::shared_ptr<BoundedZstdDecompressor>> Make() {
    std::shared_ptr<BoundedZstdDecompressor> made(new BoundedZstdDecompressor());
    if (made->context_ == nullptr) return arrow::Status::OutOfMemory("zstd: no context");
    const size_t set = ZSTD_DCtx_setParameter(made->context_.get(), ZSTD_d_windowLogMax,
                                              kZstdWindowLogMax);
    if (ZSTD_isError(set)) return arrow::Status::IOError("zstd: ", ZSTD_getErrorName(set));
    made->empty_bytes_ = made->allocated_bytes();
    return made;
  }
  arrow::Result<DecompressResult> Decompress(int64_t input_len, const uint8_t* input,
                                             int64_t output_len, uint8_t* output) override {
    ZSTD_inBuffer in{input, static_cast<size_t>(input_len), 0};
    ZSTD_outBuffer out{output, static_cast<size_t>(output_len), 0};
    const size_t left = ZSTD_decompressStream(context_.get(), &out, &in);
    if (ZSTD_getErrorCode(left) == ZSTD_error_frameParameter_windowTooLarge) {
      return arrow::Status::IOError("a zstd frame needs a window over ",
                                    (1 << kZstdWindowLogMax) >> 20,
                                    " MiB (compress at level 19 or below, without --long)");
    }
    if (ZSTD_isError(left)) return arrow::Status::IOError("zstd: ", ZSTD_getErrorName(left));
    finished_ = left == 0;
    return DecompressResult{static_cast<int64_t>(in.pos), static_cast<int64_t>(out.pos),
                            in.pos == 0 && out.pos == 0};
  }
  bool IsFinished() override { return finished_; }
  arrow::Status Reset() override {
    ZSTD_DCtx_reset(context_.get(), ZSTD_reset_session_only);
    finished_ = false;
    return arrow::Status::OK();
  }
  // What libzstd allocated: its state, and once a frame's header is read the frame's
  // window and buffers (up to 8 MiB, untouched until bytes pass through them).
  int64_t allocated_bytes() const {
    return static_cast<int64_t>(ZSTD_sizeof_DCtx(context_.get()));
  }
  int64_t empty_bytes() const { return empty_bytes_; }

 private:
  struct FreeContext {
    void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
  };
  BoundedZstdDecompressor() : context_(ZSTD_createDCtx()) {}
  const std::unique_ptr<ZSTD_DCtx, FreeContext> context_;
  int64_t empty_bytes_ = 0;  // allocated before any frame
  bool finished_ = false;
};
}  // namespace

arrow::Status IncompleteBody() {
  const auto* connection = DeadlineSocketStream::Current();
  if (connection != nullptr && connection->body_timed_out()) {
    const auto waited =
        std::chrono::duration_cast<std::chrono::seconds>(connection->read_timeout());
    return RequestTimedOut("the request body stopped arriving: no bytes for ", waited.count(),
                           " s (http.read_timeout_s, or limits.idle_timeout_s if lower)");
  }
  return arrow::Status::Invalid("the request body could not be read completely (client "
                                "disconnected or sent a malformed body)");
}

BodyDecoder::BodyDecoder(std::string coding,
                         std::shared_ptr<arrow::util::Decompressor> decompressor,
                         std::function<int64_t()> allocated, int64_t empty,
                         MemoryBudget::Reservation* charge)
    : coding_(std::move(coding)),
      decompressor_(std::move(decompressor)),
      allocated_(std::move(allocated)),
      empty_bytes_(empty),
      charge_(charge),
      out_(kDecodedPieceBytes) {}

arrow::Result<BodyDecoder> BodyDecoder::Make(const std::string& coding,
                                             MemoryBudget::Reservation* charge) {
  if (coding == "zstd") {
    ARROW_ASSIGN_OR_RAISE(auto zstd, BoundedZstdDecompressor::Make());
    auto* raw = zstd.get();
    BodyDecoder made(coding, std::move(zstd), [raw] { return raw->allocated_bytes(); },
                     raw->empty_bytes(), charge);
    ARROW_RETURN_NOT_OK(made.ChargeHeld());
    return made;
  }
  if (coding != "gzip") {
    return arrow::Status::Invalid("Content-Encoding '", coding, "' is not decoded here");
  }
  ARROW_ASSIGN_OR_RAISE(auto codec, arrow::util::Codec::Create(arrow::Compression::GZIP));
  ARROW_ASSIGN_OR_RAISE(auto decompressor, codec->MakeDecompressor());
  BodyDecoder made(coding, std::move(decompressor), [] { return kInflateBytes; },
                   kInflateBytes, charge);
  ARROW_RETURN_NOT_OK(made.ChargeHeld());
  return made;
}

arrow::Status BodyDecoder::ChargeHeld() {
  if (charge_ == nullptr) return arrow::Status::OK();
  // What the decompressor allocated is charged as bytes pass through it: a zstd frame
  // allocates its whole window when its header is read, and 17 bytes of header stalled
  // on 62 connections held the whole budget without the memory being used.
  const int64_t passed = decoded_from_ + decoded_to_;
  const int64_t held = static_cast<int64_t>(out_.size()) +
                       std::min(allocated_(), empty_bytes_ + passed);
  if (held <= charged_) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(charge_->Grow(held - charged_, "a request body's decoder"));
  charged_ = held;
  return arrow::Status::OK();
}

arrow::Status BodyDecoder::Decode(const char* data, size_t length,
                                  const BodyReceiver& receive) {
  const auto* in = reinterpret_cast<const uint8_t*>(data);
  auto left = static_cast<int64_t>(length);
  // A full output piece may leave decoded bytes inside the decompressor: asked again
  // with no input, it hands them over (or makes no progress once it holds none).
  bool full = false;
  while (left > 0 || full) {
    if (finished_) {
      if (left == 0) break;
      ARROW_RETURN_NOT_OK(decompressor_->Reset());  // the next member or frame
      finished_ = false;
    }
    auto step = decompressor_->Decompress(left, in, static_cast<int64_t>(out_.size()),
                                          out_.data());
    if (!step.ok()) {
      return arrow::Status::Invalid("the request body's ", coding_,
                                    " coding could not be decoded at byte ", decoded_from_,
                                    " of the body: ", step.status().message());
    }
    in += step->bytes_read;
    left -= step->bytes_read;
    decoded_from_ += step->bytes_read;
    decoded_to_ += step->bytes_written;
    ARROW_RETURN_NOT_OK(ChargeHeld());
    finished_ = decompressor_->IsFinished();
    if (step->bytes_written > 0) {
      ARROW_RETURN_NOT_OK(receive(reinterpret_cast<const char*>(out_.data()),
                                  static_cast<size_t>(step->bytes_written)));
    }
    full = step->bytes_written == static_cast<int64_t>(out_.size());
    if (step->bytes_read == 0 && step->bytes_written == 0 && !finished_) {
      if (left == 0) break;  // nothing held back
      return arrow::Status::Invalid("the request body's ", coding_,
                                    " coding could not be decoded past byte ", decoded_from_,
                                    " of the body");
    }
  }
  return arrow::Status::OK();
}

arrow::Status BodyDecoder::Finish() const {
  if (finished_) return arrow::Status::OK();
  return arrow::Status::Invalid("the request body's ", coding_,
                                " stream is cut short: the body ended before the ", coding_,
                                " stream did (or it is not ", coding_, ")");
}

arrow::Status ReadBody(const httplib::Request& req, const httplib::ContentReader& content,
                       int64_t limit, const std::string& limit_name,
                       const BodyReceiver& receive, MemoryBudget* budget) {
  // What the decoder holds, charged while it lives (declared first: given back last).
  MemoryBudget::Reservation decoder_charge;
  std::optional<BodyDecoder> decoder;
  if (const std::string coding = req.get_header_value(kBodyCoding); !coding.empty()) {
    if (budget != nullptr) {
      ARROW_ASSIGN_OR_RAISE(decoder_charge, budget->Reserve(0, "a request body's decoder"));
    }
    ARROW_ASSIGN_OR_RAISE(decoder,
                          BodyDecoder::Make(coding, budget ? &decoder_charge : nullptr));
  }
  int64_t coded = 0;
  arrow::Status stopped;
  const bool complete = content([&](const char* data, size_t length) {
    if (decoder) {
      coded += static_cast<int64_t>(length);
      stopped = coded > limit ? TooLarge("the request body's ",
                                         req.get_header_value(kBodyCoding), " coding passes ",
                                         limit, " bytes (", limit_name, ")")
                              : decoder->Decode(data, length, receive);
    } else {
      stopped = receive(data, length);
    }
    return stopped.ok();
  });
  ARROW_RETURN_NOT_OK(stopped);
  if (!complete) return IncompleteBody();
  return decoder ? decoder->Finish() : arrow::Status::OK();
}

arrow::Result<std::string> ReadBodyLimited(const httplib::Request& req,
                                           const httplib::ContentReader& content, int64_t limit,
                                           const std::string& limit_name,
                                           MemoryBudget::Reservation* charge) {
  std::string body;
  ARROW_RETURN_NOT_OK(ReadBody(req, content, limit, limit_name,
                               [&](const char* data, size_t length) {
    if (static_cast<int64_t>(length) > limit - static_cast<int64_t>(body.size())) {
      return TooLarge("request body exceeds ", limit, " bytes once decompressed (",
                      limit_name, ")");
    }
    if (charge != nullptr) ARROW_RETURN_NOT_OK(charge->Grow(static_cast<int64_t>(length),
                                                            "a request body"));
    body.append(data, length);
    return arrow::Status::OK();
  }, charge != nullptr ? charge->budget() : nullptr));
  return body;
}

}  // namespace arrowport::http
