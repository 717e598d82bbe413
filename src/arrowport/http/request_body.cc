#include "arrowport/http/request_body.h"

#include <zstd.h>
#include <zstd_errors.h>

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
  static arrow::Result<std::shared_ptr<arrow::util::Decompressor>> Make() {
    std::shared_ptr<BoundedZstdDecompressor> made(new BoundedZstdDecompressor());
    if (made->context_ == nullptr) return arrow::Status::OutOfMemory("zstd: no context");
    const size_t set = ZSTD_DCtx_setParameter(made->context_.get(), ZSTD_d_windowLogMax,
                                              kZstdWindowLogMax);
    if (ZSTD_isError(set)) return arrow::Status::IOError("zstd: ", ZSTD_getErrorName(set));
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
  // Its state, buffers and window: the window is allocated when a frame's header is read.
  int64_t held_bytes() const { return static_cast<int64_t>(ZSTD_sizeof_DCtx(context_.get())); }
  arrow::Status Reset() override {
    ZSTD_DCtx_reset(context_.get(), ZSTD_reset_session_only);
    finished_ = false;
    return arrow::Status::OK();
  }

 private:
  struct FreeContext {
    void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
  };
  BoundedZstdDecompressor() : context_(ZSTD_createDCtx()) {}
  const std::unique_ptr<ZSTD_DCtx, FreeContext> context_;
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
                         std::function<int64_t()> decompressor_bytes)
    : coding_(std::move(coding)),
      decompressor_(std::move(decompressor)),
      decompressor_bytes_(std::move(decompressor_bytes)),
      out_(kDecodedPieceBytes) {}

arrow::Result<BodyDecoder> BodyDecoder::Make(const std::string& coding) {
  if (coding == "zstd") {
    ARROW_ASSIGN_OR_RAISE(auto decompressor, BoundedZstdDecompressor::Make());
    const auto* zstd = static_cast<const BoundedZstdDecompressor*>(decompressor.get());
    return BodyDecoder(coding, std::move(decompressor), [zstd] { return zstd->held_bytes(); });
  }
  if (coding != "gzip") {
    return arrow::Status::Invalid("Content-Encoding '", coding, "' is not decoded here");
  }
  ARROW_ASSIGN_OR_RAISE(auto codec, arrow::util::Codec::Create(arrow::Compression::GZIP));
  ARROW_ASSIGN_OR_RAISE(auto decompressor, codec->MakeDecompressor());
  return BodyDecoder(coding, std::move(decompressor), [] { return kInflateBytes; });
}

int64_t BodyDecoder::held_bytes() const {
  return static_cast<int64_t>(out_.capacity()) + decompressor_bytes_();
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
                       const BodyReceiver& receive, MemoryBudget::Reservation* charge) {
  std::optional<BodyDecoder> decoder;
  if (const std::string coding = req.get_header_value(kBodyCoding); !coding.empty()) {
    ARROW_ASSIGN_OR_RAISE(decoder, BodyDecoder::Make(coding));
  }
  // The decoder's memory, charged as it grows (a zstd window when a frame begins) and
  // given back with the decoder.
  int64_t charged = 0;
  struct GiveBack {
    MemoryBudget::Reservation* charge;
    const int64_t& charged;
    ~GiveBack() {
      if (charge != nullptr) charge->Shrink(charged);
    }
  } give_back{charge, charged};
  const auto charge_decoder = [&]() -> arrow::Status {
    const int64_t held = decoder->held_bytes();
    if (charge == nullptr || held <= charged) return arrow::Status::OK();
    ARROW_RETURN_NOT_OK(charge->Grow(held - charged, "a request body's decoder"));
    charged = held;
    return arrow::Status::OK();
  };
  if (decoder) ARROW_RETURN_NOT_OK(charge_decoder());
  int64_t coded = 0;
  arrow::Status stopped;
  const bool complete = content([&](const char* data, size_t length) {
    if (decoder) {
      coded += static_cast<int64_t>(length);
      stopped = coded > limit ? TooLarge("the request body's ",
                                         req.get_header_value(kBodyCoding), " coding passes ",
                                         limit, " bytes (", limit_name, ")")
                              : decoder->Decode(data, length, receive);
      if (stopped.ok()) stopped = charge_decoder();
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
  }, charge));
  return body;
}

}  // namespace arrowport::http
