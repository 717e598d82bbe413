#include "arrowport/http/http_call.h"

#include <poll.h>

#include <optional>

#include "arrowport/http/deadline_socket_stream.h"

namespace arrowport::http {

bool PeerHungUp(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

arrow::Result<std::shared_ptr<HttpCall>> HttpCall::Begin(
    RequestLimiter* limiter, CallWatchdog* watchdog, const DeadlineSocketStream* connection,
    std::chrono::seconds timeout,
    const std::string& caller, std::shared_ptr<const Principal> principal,
    std::shared_ptr<CallProgress> progress) {
  std::shared_ptr<HttpCall> call(new HttpCall());
  if (limiter) {
    ARROW_ASSIGN_OR_RAISE(call->permit_, limiter->TryAcquire(caller));
  }
  call->context_.protocol = "http";
  call->context_.principal = std::move(principal);
  call->context_.progress = std::move(progress);
  call->context_.cancellation = CallCancellation::Make();
  if (watchdog) {
    std::optional<CallWatchdog::Clock::time_point> deadline;
    if (timeout.count() > 0) deadline = CallWatchdog::Clock::now() + timeout;
    std::function<bool()> client_gone;
    // The call never outlives its connection (it ends with the response), so the fd
    // stays this connection's while it is watched.
    if (connection != nullptr) {
      const int fd = connection->socket();
      client_gone = [fd] { return PeerHungUp(fd); };
      // A response blocked on a client that takes nothing can say nothing more once its
      // call is cancelled: its socket is shut at once (a stalled download held a shutdown
      // past its grace while the other calls wrote their answers), and, for a write begun
      // after the cancellation, once the call is stuck.
      const auto cut = [connection] { connection->ShutdownIfWaitingToWrite(); };
      call->cancelled_ = CallCancellation::OnCancel(call->context_.cancellation, cut);
      call->stuck_ = CallCancellation::OnStuck(call->context_.cancellation, cut);
    }
    call->watch_ = watchdog->Add(call->context_.cancellation, std::move(client_gone), deadline);
  }
  return call;
}

}  // namespace arrowport::http
