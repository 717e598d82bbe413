#include "arrowport/flight/sql/current_call.h"

namespace arrowport::flight::sql {

namespace {
thread_local const CallContext* current = nullptr;
}  // namespace

CurrentCall::CurrentCall(const CallContext* call) : previous_(current) { current = call; }

CurrentCall::~CurrentCall() { current = previous_; }

const CallContext& CurrentCall::Get() {
  static const CallContext kNone;
  return current ? *current : kNone;
}

}  // namespace arrowport::flight::sql
