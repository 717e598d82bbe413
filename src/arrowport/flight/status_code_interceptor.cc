#include "arrowport/flight/status_code_interceptor.h"

#include <grpc/support/time.h>
#include <grpcpp/server_context.h>

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include <cctype>
#include <iterator>
#include <string_view>

#include "arrowport/flight/rpc_status.h"

namespace arrowport::flight {

namespace gx = grpc::experimental;

namespace {

using Report = std::function<void(const UnhandledFailure&)>;

// The trailers in which Arrow Flight's server sends an arrow::Status beside gRPC's
// (arrow/flight/transport/grpc/util_internal.cc), and arrow::StatusCode::Invalid.
constexpr const char* kArrowStatusCodeKey = "x-arrow-status";
constexpr const char* kArrowStatusMessageKey = "x-arrow-status-message-bin";
constexpr const char* kArrowStatusDetailKey = "x-arrow-status-detail-bin";
constexpr const char* kArrowInvalidCode = "4";

class StatusCodeInterceptor;
thread_local grpc::ServerContextBase* current_server_context = nullptr;
thread_local StatusCodeInterceptor* current_interceptor = nullptr;

// "/arrow.flight.protocol.FlightService/DoPut" -> "do_put", as the call runner names it.
std::string LoggedMethodName(const char* path) {
  std::string_view name = path == nullptr ? "" : path;
  name = name.substr(name.rfind('/') + 1);
  std::string out;
  for (char c : name) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (!out.empty()) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
  const auto index = static_cast<size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "UNKNOWN";
}

class StatusCodeInterceptor : public gx::Interceptor {
 public:
  StatusCodeInterceptor(gx::ServerRpcInfo* info, const Report* report)
      : context_(info->server_context()), method_(info->method()), report_(report) {}
  ~StatusCodeInterceptor() override {
    if (current_interceptor == this) current_interceptor = nullptr;
  }

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            gx::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      current_server_context = context_;
      current_interceptor = this;
    }
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Rewrite(methods);
      if (!handled_) ReportUnhandled(methods);
      if (current_server_context == context_) current_server_context = nullptr;
      if (current_interceptor == this) current_interceptor = nullptr;
    }
    methods->Proceed();
  }

  void MarkHandled() { handled_ = true; }
  void MarkLogged() { logged_ = true; }

 private:
  void ReportUnhandled(gx::InterceptorBatchMethods* methods) {
    grpc::Status status = methods->GetSendStatus();
    if (status.ok()) return;
    const std::string name = LoggedMethodName(method_);
    const std::string_view path = method_;
    const std::string rpc(path.substr(path.rfind('/') + 1));
    if (context_->IsCancelled()) {
      // The client left, its deadline passed, or gRPC refused its message as too large:
      // the client saw that, not what is sent now, so it is neither rewritten nor
      // counted as the client's malformed message.
      status = grpc::Status(DeadlinePassed(*context_) ? grpc::StatusCode::DEADLINE_EXCEEDED
                                    : grpc::StatusCode::CANCELLED,
                            rpc + " ended before its first message was read (client gone, "
                                  "deadline passed or a message over the size limit): " +
                                status.error_message());
    } else if (status.error_code() == grpc::StatusCode::UNKNOWN &&
               (name == "do_put" || name == "do_exchange")) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            rpc + ": the call's first message could not be read: " +
                                status.error_message() +
                                (name == "do_put"
                                     ? " (it carries the FlightDescriptor and the Arrow schema)"
                                     : " (it carries the FlightDescriptor)"));
      Replace(methods, status);
    } else if (status.error_code() == grpc::StatusCode::INTERNAL &&
               status.error_message().empty()) {
      // gRPC's own answer to a request message it could not parse: the client's error.
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            rpc + ": the request message could not be parsed");
      Replace(methods, status);
    }
    if (report_ != nullptr && *report_) {
      (*report_)({name, context_->peer(), CodeName(status.error_code()),
                  status.error_message(), logged_});
    }
  }

  // Sends `status` instead. Arrow's clients rebuild a status from Arrow's own trailers,
  // not from gRPC's code and message: they say the same (Invalid and the message).
  static void Replace(gx::InterceptorBatchMethods* methods, const grpc::Status& status) {
    methods->ModifySendStatus(status);
    if (auto* trailers = methods->GetSendTrailingMetadata()) {
      trailers->erase(kArrowStatusCodeKey);
      trailers->erase(kArrowStatusMessageKey);
      trailers->erase(kArrowStatusDetailKey);
      trailers->emplace(kArrowStatusCodeKey, kArrowInvalidCode);
      trailers->emplace(kArrowStatusMessageKey, status.error_message());
    }
  }

  static void Rewrite(gx::InterceptorBatchMethods* methods) {
    const grpc::Status status = methods->GetSendStatus();
    if (status.ok()) return;
    auto* trailers = methods->GetSendTrailingMetadata();
    if (trailers == nullptr) return;
    auto it = trailers->find(kGrpcStatusDetailsKey);
    if (it == trailers->end()) return;
    auto rich = DecodeRpcStatus(it->second);
    if (!rich || (rich->code != kGrpcResourceExhausted && rich->code != kGrpcFailedPrecondition)) {
      return;
    }
    if (static_cast<int>(status.error_code()) == rich->code) return;
    methods->ModifySendStatus(grpc::Status(static_cast<grpc::StatusCode>(rich->code),
                                           status.error_message()));
  }

  grpc::ServerContextBase* const context_;
  const char* const method_;
  const Report* const report_;  // the factory's, which outlives its calls
  bool handled_ = false;
  bool logged_ = false;
};

class StatusCodeInterceptorFactory : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit StatusCodeInterceptorFactory(Report report) : report_(std::move(report)) {}

  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new StatusCodeInterceptor(info, &report_);
  }

 private:
  const Report report_;
};

}  // namespace

grpc::ServerContextBase* CurrentServerContext() { return current_server_context; }

bool DeadlinePassed(const grpc::ServerContextBase& context) {
  // A point in time, not the infinite future some clients send instead of none (gpr
  // time: deadline() converts to nanoseconds, which overflows for those).
  const gpr_timespec deadline = context.raw_deadline();
  if (deadline.clock_type == GPR_TIMESPAN ||
      gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0) {
    return false;
  }
  return gpr_time_cmp(deadline, gpr_now(deadline.clock_type)) <= 0;
}

void MarkCallHandled() {
  if (current_interceptor != nullptr) current_interceptor->MarkHandled();
}

void MarkCallLogged() {
  if (current_interceptor != nullptr) current_interceptor->MarkLogged();
}

std::unique_ptr<gx::ServerInterceptorFactoryInterface> MakeStatusCodeInterceptorFactory(
    Report report) {
  return std::make_unique<StatusCodeInterceptorFactory>(std::move(report));
}

}  // namespace arrowport::flight
