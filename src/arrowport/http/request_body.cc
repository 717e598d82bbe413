#include "arrowport/http/request_body.h"

#include <chrono>
#include <optional>

#include "arrow/util/compression.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/negotiation.h"

namespace arrowport::http {

namespace {
// Decoded bytes handed on at a time: the most a limit checked per piece can be passed by.
constexpr size_t kDecodedPieceBytes = 64 * 1024;
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
                         std::shared_ptr<arrow::util::Decompressor> decompressor)
    : coding_(std::move(coding)),
      decompressor_(std::move(decompressor)),
      out_(kDecodedPieceBytes) {}

arrow::Result<BodyDecoder> BodyDecoder::Make(const std::string& coding) {
  arrow::Compression::type type;
  if (coding == "gzip") {
    type = arrow::Compression::GZIP;
  } else if (coding == "zstd") {
    type = arrow::Compression::ZSTD;
  } else {
    return arrow::Status::Invalid("Content-Encoding '", coding, "' is not decoded here");
  }
  ARROW_ASSIGN_OR_RAISE(auto codec, arrow::util::Codec::Create(type));
  ARROW_ASSIGN_OR_RAISE(auto decompressor, codec->MakeDecompressor());
  return BodyDecoder(coding, std::move(decompressor));
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
      return arrow::Status::Invalid("the request body's ", coding_, " coding is corrupt at ",
                                    "byte ", decoded_from_, " of the body: ",
                                    step.status().message());
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
                       const BodyReceiver& receive) {
  std::optional<BodyDecoder> decoder;
  if (const std::string coding = req.get_header_value(kBodyCoding); !coding.empty()) {
    ARROW_ASSIGN_OR_RAISE(decoder, BodyDecoder::Make(coding));
  }
  arrow::Status stopped;
  const bool complete = content([&](const char* data, size_t length) {
    stopped = decoder ? decoder->Decode(data, length, receive) : receive(data, length);
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
  ARROW_RETURN_NOT_OK(ReadBody(req, content, [&](const char* data, size_t length) {
    if (static_cast<int64_t>(length) > limit - static_cast<int64_t>(body.size())) {
      return TooLarge("request body exceeds ", limit, " bytes once decompressed (",
                      limit_name, ")");
    }
    if (charge != nullptr) ARROW_RETURN_NOT_OK(charge->Grow(static_cast<int64_t>(length),
                                                            "a request body"));
    body.append(data, length);
    return arrow::Status::OK();
  }));
  return body;
}

}  // namespace arrowport::http
