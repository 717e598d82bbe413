#pragma once

#include <memory>

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}  // namespace grpc::experimental

namespace arrowport::flight {

/// \brief A gRPC server interceptor factory that gives a failed call the gRPC status code
/// its rich status (the google.rpc.Status in the grpc-status-details-bin trailer) names,
/// where Arrow Flight has no code of its own for it: RESOURCE_EXHAUSTED and
/// FAILED_PRECONDITION, which ToFlightStatus puts in FlightStatusDetail::extra_info (Arrow
/// sends that as grpc-status-details-bin) under Flight's nearest code. At
/// PRE_SEND_STATUS the interceptor rewrites the code, keeping the message and trailers.
/// Thread-safe.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeStatusCodeInterceptorFactory();

}  // namespace arrowport::flight
