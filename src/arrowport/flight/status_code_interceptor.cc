#include "arrowport/flight/status_code_interceptor.h"

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include "arrowport/flight/rpc_status.h"

namespace arrowport::flight {

namespace gx = grpc::experimental;

namespace {

class StatusCodeInterceptor : public gx::Interceptor {
 public:
  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Rewrite(methods);
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
};

class StatusCodeInterceptorFactory : public gx::ServerInterceptorFactoryInterface {
 public:
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo*) override {
    return new StatusCodeInterceptor();
  }
};

}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface> MakeStatusCodeInterceptorFactory() {
  return std::make_unique<StatusCodeInterceptorFactory>();
}

}  // namespace arrowport::flight
