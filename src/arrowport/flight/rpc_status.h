#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace arrowport::flight {

/// gRPC's RESOURCE_EXHAUSTED (grpc::StatusCode 8) and FAILED_PRECONDITION (9), which
/// Arrow's FlightStatusCode lacks.
constexpr int kGrpcResourceExhausted = 8;
constexpr int kGrpcFailedPrecondition = 9;
/// The trailer in which gRPC carries a google.rpc.Status (rich error model).
constexpr const char* kGrpcStatusDetailsKey = "grpc-status-details-bin";

/// \brief A serialized google.rpc.Status {code, message, details}; when `retry_after_s`
/// > 0, details holds one google.rpc.RetryInfo {retry_delay: retry_after_s seconds}. What
/// gRPC clients read from the grpc-status-details-bin trailer (grpcio-status, Java's
/// StatusProto, Go's status.FromError); pyarrow shows it as FlightError.extra_info.
std::string EncodeRpcStatus(int code, std::string_view message, int64_t retry_after_s);

/// The code and retry delay of a serialized google.rpc.Status, when it parses.
struct RpcStatusSummary {
  int code = 0;
  int64_t retry_after_s = 0;
};
std::optional<RpcStatusSummary> DecodeRpcStatus(std::string_view bytes);

}  // namespace arrowport::flight
