#include "arrowport/flight/status_code_interceptor.h"

#include <grpcpp/server_context.h>

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include "arrowport/flight/rpc_status.h"

namespace arrowport::flight {

namespace gx = grpc::experimental;

namespace {

thread_local grpc::ServerContextBase* current_server_context = nullptr;

class StatusCodeInterceptor : public gx::Interceptor {
 public:
  explicit StatusCodeInterceptor(grpc::ServerContextBase* context) : context_(context) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            gx::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      current_server_context = context_;
    }
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Rewrite(methods);
      if (current_server_context == context_) current_server_context = nullptr;
    }
    methods->Proceed();
  }

 private:
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
};

class StatusCodeInterceptorFactory : public gx::ServerInterceptorFactoryInterface {
 public:
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new StatusCodeInterceptor(info->server_context());
  }
};

}  // namespace

grpc::ServerContextBase* CurrentServerContext() { return current_server_context; }

std::unique_ptr<gx::ServerInterceptorFactoryInterface> MakeStatusCodeInterceptorFactory() {
  return std::make_unique<StatusCodeInterceptorFactory>();
}

}  // namespace arrowport::flight
