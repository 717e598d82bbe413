#include "arrowport/flight/flight_status.h"

#include <arrow/flight/types.h>

#include "arrowport/common/status_detail.h"
#include "arrowport/flight/rpc_status.h"

namespace arrowport::flight {

namespace fl = arrow::flight;

namespace {

// gRPC sends a status message twice (percent-encoded in grpc-message, base64 in Arrow's
// x-arrow-status-message-bin), a third time in a google.rpc.Status for the codes Flight
// lacks, and a client refuses trailers past its limit (gRPC C++: 8 KiB soft, where it
// refuses at random, 16 KiB hard; grpc-java, the JDBC driver: 8 KiB), which turns the
// error into RESOURCE_EXHAUSTED. The message a client gets is cut to 1 KiB as
// grpc-message encodes it (at most about 4.5 KiB of trailers in all); the server's log
// keeps it whole.
constexpr size_t kClientMessageBytes = 1024;

size_t EncodedSize(unsigned char byte) {
  return byte >= 0x20 && byte <= 0x7e && byte != '%' ? 1 : 3;
}

}  // namespace

std::string ClientMessage(const std::string& message) {
  size_t encoded = 0;
  size_t cut = 0;
  for (; cut < message.size(); ++cut) {
    encoded += EncodedSize(static_cast<unsigned char>(message[cut]));
    if (encoded > kClientMessageBytes) break;
  }
  if (cut == message.size()) return message;
  // Back to the start of a character (at most 3 bytes: a sequence is 4 at most), never
  // half of a UTF-8 sequence.
  for (int back = 0; back < 3 && cut > 0 &&
                     (static_cast<unsigned char>(message[cut]) & 0xc0) == 0x80;
       ++back) {
    --cut;
  }
  return message.substr(0, cut) + " ... [" + std::to_string(message.size() - cut) +
         " bytes more: the whole message is in the server's log]";
}

arrow::Status ToFlightStatus(const arrow::Status& whole) {
  if (whole.ok()) return whole;
  const arrow::Status status = whole.WithMessage(ClientMessage(whole.message()));
  if (HasErrorKind(status, ErrorKind::kRetryableConflict) ||
      HasErrorKind(status, ErrorKind::kServerBusy) ||
      HasErrorKind(status, ErrorKind::kShuttingDown) ||
      HasErrorKind(status, ErrorKind::kStoreUnavailable) ||
      HasErrorKind(status, ErrorKind::kCatalogLocked) ||
      HasErrorKind(status, ErrorKind::kOutcomeUnknown)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable, status.message());
  }
  if (HasErrorKind(status, ErrorKind::kUnauthenticated)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unauthenticated, status.message());
  }
  // Flight's "Unauthorized" is gRPC PERMISSION_DENIED.
  if (HasErrorKind(status, ErrorKind::kPermissionDenied)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized, status.message());
  }
  if (HasErrorKind(status, ErrorKind::kInUse) || HasErrorKind(status, ErrorKind::kTableRefused)) {
    // A handle busy with another call, or a lake table whose log is refused:
    // FAILED_PRECONDITION (the call may succeed once the other call ends, or the log is
    // mended), carried like RESOURCE_EXHAUSTED below.
    return fl::MakeFlightError(fl::FlightStatusCode::Failed, status.message(),
                               EncodeRpcStatus(kGrpcFailedPrecondition, status.message(), 0));
  }
  if (const auto* kind = GetErrorKind(status);
      kind && (kind->kind() == ErrorKind::kRateLimited ||
               kind->kind() == ErrorKind::kResourceExhausted)) {
    // Flight has no RESOURCE_EXHAUSTED: UNAVAILABLE (retry later) carries a google.rpc.Status
    // saying RESOURCE_EXHAUSTED with a RetryInfo, and the status code interceptor makes the
    // gRPC code say so too.
    return fl::MakeFlightError(
        fl::FlightStatusCode::Unavailable, status.message(),
        EncodeRpcStatus(kGrpcResourceExhausted, status.message(), kind->retry_after_s()));
  }
  if (HasErrorKind(status, ErrorKind::kWriteLimit) ||
      HasErrorKind(status, ErrorKind::kDiskFull)) {
    // Not worth retrying as it is (a full disk stays full until an operator frees space):
    // RESOURCE_EXHAUSTED without a RetryInfo.
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable, status.message(),
                               EncodeRpcStatus(kGrpcResourceExhausted, status.message(), 0));
  }
  if (HasErrorKind(status, ErrorKind::kTimedOut)) {
    return fl::MakeFlightError(fl::FlightStatusCode::TimedOut, status.message());
  }
  if (HasErrorKind(status, ErrorKind::kTooLarge) || status.IsCapacityError()) {
    return arrow::Status::Invalid(status.message());
  }
  // A detail that is neither a Flight code nor ours (a copy_from peer's transport detail,
  // holding the peer's trailers whole) would go out as x-arrow-status-detail-bin, past any client's
  // header limit; a Flight code's extra_info is passed on when it is small.
  if (auto flight = fl::FlightStatusDetail::UnwrapStatus(status)) {
    if (flight->extra_info().size() <= kClientMessageBytes) return status;
    return fl::MakeFlightError(flight->code(), status.message());
  }
  if (!status.detail() || GetErrorKind(status) != nullptr) return status;  // ours: a word
  return arrow::Status(status.code(), status.message());
}

const char* GrpcCodeName(const arrow::Status& flight_status) {
  if (flight_status.ok()) return "OK";
  // As Arrow's gRPC transport maps a status, then the status code interceptor's rewrite of
  // the codes Flight lacks (carried as a google.rpc.Status in extra_info).
  if (auto detail = fl::FlightStatusDetail::UnwrapStatus(flight_status)) {
    if (auto rpc = DecodeRpcStatus(detail->extra_info())) {
      if (rpc->code == kGrpcResourceExhausted) return "RESOURCE_EXHAUSTED";
      if (rpc->code == kGrpcFailedPrecondition) return "FAILED_PRECONDITION";
    }
    switch (detail->code()) {
      case fl::FlightStatusCode::Internal:
        return "INTERNAL";
      case fl::FlightStatusCode::TimedOut:
        return "DEADLINE_EXCEEDED";
      case fl::FlightStatusCode::Cancelled:
        return "CANCELLED";
      case fl::FlightStatusCode::Unauthenticated:
        return "UNAUTHENTICATED";
      case fl::FlightStatusCode::Unauthorized:
        return "PERMISSION_DENIED";
      case fl::FlightStatusCode::Unavailable:
        return "UNAVAILABLE";
      default:
        return "UNKNOWN";
    }
  }
  if (flight_status.IsKeyError()) return "NOT_FOUND";
  if (flight_status.IsInvalid()) return "INVALID_ARGUMENT";
  if (flight_status.IsCancelled()) return "CANCELLED";
  if (flight_status.IsNotImplemented()) return "UNIMPLEMENTED";
  if (flight_status.IsAlreadyExists()) return "ALREADY_EXISTS";
  return "UNKNOWN";
}

}  // namespace arrowport::flight
