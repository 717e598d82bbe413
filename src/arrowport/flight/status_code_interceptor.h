#pragma once

#include <functional>
#include <memory>
#include <string>

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
///
/// A call that fails before any handler took it (MarkCallHandled) failed in Arrow or
/// gRPC: a DoPut or DoExchange whose first message is not a Flight message with its
/// descriptor and schema (Arrow reads it before the handler), or a request that does not
/// parse. No handler logged it, so `report` is told (the method as the server logs it,
/// e.g. "do_put", the client's address, the gRPC code's name and the message); for a
/// call the authenticator refused (MarkCallLogged) with `logged` set: it logged the
/// failure, which is still counted. Arrow sends a first message it
/// could not read as UNKNOWN: INVALID_ARGUMENT instead, saying what the message must be
/// (in gRPC's status and in Arrow's own trailers); gRPC sends a request it could not
/// parse as INTERNAL without a message: INVALID_ARGUMENT too. A call cancelled before
/// (its client gone, its deadline passed) is reported as CANCELLED or DEADLINE_EXCEEDED,
/// what its client saw, and left as it is.
struct UnhandledFailure {
  std::string method;
  std::string peer;
  std::string code;
  std::string message;
  bool logged = false;  // the authenticator logged it: to count, not to log again
};
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeStatusCodeInterceptorFactory(std::function<void(const UnhandledFailure&)> report = {});

/// Whether the deadline `context`'s client set has passed (false without one, or with
/// the infinite future some clients send instead of none).
bool DeadlinePassed(const grpc::ServerContextBase& context);

/// Tells the interceptor of the call this thread serves that a handler took the call
/// (CallRunner::Run): how it ends is the handler's to log.
void MarkCallHandled();

/// Tells the interceptor of the call this thread serves that the call failed in the
/// authenticator, which logged it (a wrong password, a throttled login): it is counted
/// with the code its client sees, as HTTP counts its 401 and 429, and not logged again.
void MarkCallLogged();

/// \brief The gRPC context of the call this thread's handler serves (null outside one):
/// Arrow Flight's ServerCallContext cannot cancel its call, gRPC's can (TryCancel). Set at
/// POST_RECV_INITIAL_METADATA, which the synchronous server runs on the thread that then
/// runs the handler, cleared at PRE_SEND_STATUS on that thread.
grpc::ServerContextBase* CurrentServerContext();

}  // namespace arrowport::flight
