#include "arrowport/common/thread_cancellation.h"

namespace arrowport {

namespace {
// The open scope's limits on this thread (a scope restores its predecessor's).
thread_local ThreadCancellation t_thread_cancellation;
}  // namespace

ThreadCancellation ThreadCancellation::Current() { return t_thread_cancellation; }

ThreadCancellationScope::ThreadCancellationScope(ThreadCancellation limits)
    : previous_(std::move(t_thread_cancellation)) {
  t_thread_cancellation = std::move(limits);
}

ThreadCancellationScope::~ThreadCancellationScope() { t_thread_cancellation = std::move(previous_); }

}  // namespace arrowport
