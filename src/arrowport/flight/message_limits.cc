#include "arrowport/flight/message_limits.h"

#include <arrow/flight/server.h>
#include <arrow/flight/transport.h>
#include <grpcpp/support/server_interceptor.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <span>
#include <thread>

#include "arrow/buffer.h"
#include "arrow/ipc/reader.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/ipc_message_limits.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
namespace gx = grpc::experimental;

namespace {

constexpr const char* kDoPut = "/arrow.flight.protocol.FlightService/DoPut";
constexpr const char* kDoExchange = "/arrow.flight.protocol.FlightService/DoExchange";
// Room for a batch's IPC header (large for wide schemas) and the FlightData framing.
constexpr int64_t kHeaderHeadroom = int64_t{16} << 20;

// The interceptor's reason for refusing the last message received on this thread. gRPC's
// synchronous server runs POST_RECV_MESSAGE interceptors on the thread that plucks the
// call's completion queue, which is the thread calling Read().
thread_local arrow::Status refusal;

std::span<const uint8_t> Span(const std::shared_ptr<arrow::Buffer>& buffer) {
  if (buffer == nullptr) return {};
  return {buffer->data(), static_cast<size_t>(buffer->size())};
}

// Why `data` must not reach Arrow's decoder, or OK.
arrow::Status Check(const fl::internal::FlightData& data, int64_t max_batch_bytes) {
  if (data.metadata == nullptr) return arrow::Status::OK();  // app_metadata only
  auto size = DecodedSizeOfIpcMessage(Span(data.metadata), Span(data.body));
  if (!size.ok()) {
    return arrow::Status::Invalid("DoPut message refused before decoding: ",
                                  size.status().message());
  }
  if (size->decoded_bytes > max_batch_bytes) {
    const bool dictionary = size->kind == IpcDecodedSize::Kind::kDictionaryBatch;
    return TooLarge(dictionary ? "dictionary batch" : "record batch", " declares ",
                    size->decoded_bytes,
                    " bytes decoded, more than limits.max_batch_bytes (", max_batch_bytes,
                    "); send smaller batches");
  }
  return arrow::Status::OK();
}

class MessageLimitsInterceptor : public gx::Interceptor {
 public:
  explicit MessageLimitsInterceptor(int64_t max_batch_bytes)
      : max_batch_bytes_(max_batch_bytes) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            gx::InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Flight reads DoPut / DoExchange messages into its own FlightData (its gRPC
      // deserializer fills that struct in place of the protobuf message).
      auto* data = static_cast<fl::internal::FlightData*>(methods->GetRecvMessage());
      if (data != nullptr) {
        auto st = Check(*data, max_batch_bytes_);
        if (!st.ok()) {
          // Without its body Arrow refuses the batch ("Expected body in IPC message")
          // before allocating anything; the reader wrapper reports `st` instead.
          data->body.reset();
          refusal = std::move(st);
        }
      }
    }
    methods->Proceed();
  }

 private:
  const int64_t max_batch_bytes_;
};

class MessageLimitsInterceptorFactory : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit MessageLimitsInterceptorFactory(int64_t max_batch_bytes)
      : max_batch_bytes_(max_batch_bytes) {}

  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    const char* method = info->method();
    if (method == nullptr ||
        (std::strcmp(method, kDoPut) != 0 && std::strcmp(method, kDoExchange) != 0)) {
      return nullptr;  // gRPC skips a null interceptor
    }
    return new MessageLimitsInterceptor(max_batch_bytes_);
  }

 private:
  const int64_t max_batch_bytes_;
};

class LimitedMessageReader : public fl::FlightMessageReader {
 public:
  LimitedMessageReader(std::unique_ptr<fl::FlightMessageReader> inner,
                       const fl::ServerCallContext& context)
      : inner_(std::move(inner)), context_(context) {}

  const fl::FlightDescriptor& descriptor() const override { return inner_->descriptor(); }

  arrow::Result<std::shared_ptr<arrow::Schema>> GetSchema() override {
    return inner_->GetSchema();
  }

  arrow::Result<fl::FlightStreamChunk> Next() override {
    refusal = arrow::Status::OK();  // a stale reason from an earlier call on this thread
    auto chunk = inner_->Next();
    auto refused = TakeMessageRefusal();
    if (!refused.ok()) return refused;
    return chunk;
  }

  arrow::ipc::ReadStats stats() const override { return inner_->stats(); }

 private:
  std::unique_ptr<fl::FlightMessageReader> inner_;
  const fl::ServerCallContext& context_;  // outlives the reader: both end with the call
};

}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface>
MakeMessageLimitsInterceptorFactory(int64_t max_batch_bytes) {
  return std::make_unique<MessageLimitsInterceptorFactory>(max_batch_bytes);
}

int MaxReceiveMessageSize(int64_t max_batch_bytes) {
  const int64_t limit = std::max<int64_t>(max_batch_bytes, 0);
  if (limit >= INT_MAX - kHeaderHeadroom) return INT_MAX;
  return static_cast<int>(limit + kHeaderHeadroom);
}

std::unique_ptr<fl::FlightMessageReader> WithMessageLimits(
    std::unique_ptr<fl::FlightMessageReader> reader,
    const fl::ServerCallContext& context) {
  return std::make_unique<LimitedMessageReader>(std::move(reader), context);
}

arrow::Status TakeMessageRefusal() {
  arrow::Status out = std::move(refusal);
  refusal = arrow::Status::OK();
  return out;
}

}  // namespace arrowport::flight
