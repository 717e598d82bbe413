#pragma once

#include <memory>

namespace grpc {
class ServerContextBase;
namespace experimental {
class ServerInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace arrowport::flight {

/// \brief A gRPC server interceptor factory that gives a failed call the gRPC status code
/// its rich status (the google.rpc.Status in the grpc-status-details-bin trailer) names,
/// where Arrow Flight has no code of its own for it: RESOURCE_EXHAUSTED and
/// FAILED_PRECONDITION, which ToFlightStatus puts in FlightStatusDetail::extra_info (Arrow
/// sends that as grpc-status-details-bin) under Flight's nearest code. At
/// PRE_SEND_STATUS the interceptor rewrites the code, keeping the message and trailers.
/// It also tells the call's handler its gRPC context (CurrentServerContext). Thread-safe.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeStatusCodeInterceptorFactory();

/// \brief The gRPC context of the call this thread's handler serves (null outside one):
/// Arrow Flight's ServerCallContext cannot cancel its call, gRPC's can (TryCancel). Set at
/// POST_RECV_INITIAL_METADATA, which the synchronous server runs on the thread that then
/// runs the handler, cleared at PRE_SEND_STATUS on that thread.
grpc::ServerContextBase* CurrentServerContext();

}  // namespace arrowport::flight
