#include "arrowport/flight/message_limits.h"

#include <arrow/flight/server.h>
#include <arrow/flight/transport.h>
#include <grpcpp/support/server_interceptor.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <limits>
#include <cstring>
#include <span>
#include <thread>

#include "arrow/buffer.h"
#include "arrow/ipc/reader.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/ipc_message_limits.h"
#include "arrowport/flight/put_activity.h"

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
// The activity of the DoPut whose message this thread received last. Arrow reads a
// DoPut's first message (its descriptor) on the handler thread before calling our DoPut,
// so when WithMessageLimits runs it names that very call.
thread_local std::shared_ptr<PutActivity> received_by;
// The size of the message the interceptor last passed on this thread (received bytes).
thread_local int64_t received_bytes = 0;
// The least a read reserves (small batches vary in size).
constexpr int64_t kMinMessageBytes = int64_t{1} << 20;
// What a read reserves before the call's first batch, whose size nothing tells yet. Not
// the largest allowed: a DoPut that sent its schema and waits would hold that much for
// limits.idle_timeout_s, and a few such calls would leave every other call busy. A larger
// first batch is charged in full as it arrives (the interceptor), once.
constexpr int64_t kFirstMessageBytes = int64_t{16} << 20;

std::span<const uint8_t> Span(const std::shared_ptr<arrow::Buffer>& buffer) {
  if (buffer == nullptr) return {};
  return {buffer->data(), static_cast<size_t>(buffer->size())};
}

// Why `data` must not reach Arrow's decoder, or OK. `charged` receives what the message
// holds once decoded: its received bytes, its decoded batch, and the batch's aligned copy
// (decoding is zero-copy where it can be, and the ingest pipeline copies buffers that are
// not 64-byte aligned, as gRPC's often are not).
arrow::Status Check(const fl::internal::FlightData& data, int64_t max_batch_bytes,
                    int64_t* charged, IpcDecodedSize::Kind* kind) {
  *charged = data.body ? data.body->size() : 0;
  *kind = IpcDecodedSize::Kind::kOther;
  if (data.metadata == nullptr) return arrow::Status::OK();  // app_metadata only
  auto size = DecodedSizeOfIpcMessage(Span(data.metadata), Span(data.body));
  if (!size.ok()) {
    return arrow::Status::Invalid("DoPut message refused before decoding: ",
                                  size.status().message());
  }
  *kind = size->kind;
  if (size->decoded_bytes > max_batch_bytes) {
    const bool dictionary = size->kind == IpcDecodedSize::Kind::kDictionaryBatch;
    return TooLarge(dictionary ? "dictionary batch" : "record batch", " declares ",
                    size->decoded_bytes,
                    " bytes decoded, more than limits.max_batch_bytes (", max_batch_bytes,
                    "); send smaller batches");
  }
  *charged += 2 * size->decoded_bytes;
  return arrow::Status::OK();
}

// Messages of one call charged to the server's memory budget at once: the ingest pipeline
// holds a few decoded batches between the network and DuckDB (prefetch depth 4), plus the
// one being decoded and the one gRPC holds.
constexpr size_t kChargedMessages = 6;

class MessageLimitsInterceptor : public gx::Interceptor {
 public:
  MessageLimitsInterceptor(int64_t max_batch_bytes, std::shared_ptr<PutActivity> activity,
                           std::shared_ptr<MemoryBudget> budget)
      : max_batch_bytes_(max_batch_bytes),
        activity_(std::move(activity)),
        charges_(std::move(budget), kChargedMessages) {}
  ~MessageLimitsInterceptor() override {
    if (activity_) activity_->Detach();
  }

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (activity_ &&
        methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      activity_->Detach();  // the handler returned: its context is no longer ours to cancel
    }
    if (methods->QueryInterceptionHookPoint(
            gx::InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (activity_) received_by = activity_;
      // Flight reads DoPut / DoExchange messages into its own FlightData (its gRPC
      // deserializer fills that struct in place of the protobuf message).
      auto* data = static_cast<fl::internal::FlightData*>(methods->GetRecvMessage());
      if (data != nullptr) {
        int64_t charged = 0;
        IpcDecodedSize::Kind kind;
        auto st = Check(*data, max_batch_bytes_, &charged, &kind);
        if (st.ok()) st = CheckOneSchema(kind);
        received_bytes = data->body ? data->body->size() : 0;
        // The reader reserved room for a whole message before reading it; the message's
        // own size (received and decoded) is charged now, and the reader lets its
        // reservation go once this returns.
        if (st.ok()) st = charges_.Add(charged, "a DoPut's record batches");
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
  // An Arrow IPC stream has one schema, at its start. A second schema message (a client
  // that changed its schema mid-stream) made Arrow's reader fail with an IOError about
  // the message type, answered UNKNOWN: the client is told what it did instead.
  arrow::Status CheckOneSchema(IpcDecodedSize::Kind kind) {
    if (kind == IpcDecodedSize::Kind::kRecordBatch) ++batches_;
    if (kind != IpcDecodedSize::Kind::kSchema || ++schemas_ == 1) {
      return arrow::Status::OK();
    }
    return arrow::Status::Invalid(
        "the stream changed its schema after ", batches_, " record batch(es) (a second "
        "schema message): one DoPut or DoExchange carries one Arrow schema; send batches "
        "of another schema in a call of their own");
  }

  const int64_t max_batch_bytes_;
  std::shared_ptr<PutActivity> activity_;  // DoPut and DoExchange
  ChargeWindow charges_;  // released with the call
  int schemas_ = 0;       // schema messages received on the call
  int64_t batches_ = 0;   // record batches received on the call
};

class MessageLimitsInterceptorFactory : public gx::ServerInterceptorFactoryInterface {
 public:
  MessageLimitsInterceptorFactory(int64_t max_batch_bytes,
                                  std::shared_ptr<MemoryBudget> budget)
      : max_batch_bytes_(max_batch_bytes), budget_(std::move(budget)) {}

  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    const char* method = info->method();
    if (method == nullptr ||
        (std::strcmp(method, kDoPut) != 0 && std::strcmp(method, kDoExchange) != 0)) {
      return nullptr;  // gRPC skips a null interceptor
    }
    // DoExchange is an upload too: the same idle limit applies while it waits.
    auto activity = std::make_shared<PutActivity>(info->server_context());
    return new MessageLimitsInterceptor(max_batch_bytes_, std::move(activity), budget_);
  }

 private:
  const int64_t max_batch_bytes_;
  std::shared_ptr<MemoryBudget> budget_;
};

class LimitedMessageReader : public fl::FlightMessageReader {
 public:
  LimitedMessageReader(std::unique_ptr<fl::FlightMessageReader> inner,
                       const fl::ServerCallContext& context, IdleLimit idle)
      : inner_(std::move(inner)), context_(context), idle_(idle) {
    activity_ = std::move(received_by);
    received_by.reset();
    if (activity_ == nullptr || idle_.watchdog == nullptr || idle_.timeout.count() <= 0) {
      return;
    }
    // The watchdog polls IdleFor; past the limit it cancels `cancellation_`, whose
    // interrupt ends the gRPC call (the blocked read returns at once).
    cancellation_ = CallCancellation::Make();
    auto activity = activity_;
    const auto timeout = idle_.timeout;
    watch_ = idle_.watchdog->Add(cancellation_,
                                 [activity, timeout] { return activity->IdleFor() > timeout; });
    Logger* logger = idle_.logger;
    std::string peer = context.peer();
    subscription_ = CallCancellation::OnCancel(
        cancellation_, [activity, logger, peer, timeout] {
          // Also run by the watchdog's CancelAll at shutdown (gRPC's own shutdown deadline
          // ends those calls) and again every period: only an idle DoPut is cancelled here.
          if (activity->IdleFor() <= timeout) return;
          if (activity->Cancel() && logger != nullptr) {
            logger->Warn("upload idle: cancelled (limits.idle_timeout_s)",
                         {{"protocol", "flight"}, {"peer", peer},
                          {"idle_timeout_s", std::to_string(timeout.count())}});
          }
        });
  }

  const fl::FlightDescriptor& descriptor() const override { return inner_->descriptor(); }

  arrow::Result<std::shared_ptr<arrow::Schema>> GetSchema() override {
    auto schema = inner_->GetSchema();
    if (!schema.ok()) return ClientsBytes(schema.status());
    return schema;
  }

  arrow::Result<fl::FlightStreamChunk> Next() override {
    // Room for the largest message before asking gRPC for it: a call that finds none
    // within the budget's wait ends busy without receiving (its client's data stays on
    // its side), instead of every waiting call holding a whole message.
    MemoryBudget::Reservation receiving;
    if (idle_.budget) {
      // kFirstMessageBytes until the call's first batch is in, then as large as its
      // last one (clients send alike batches): a producer idle between batches holds
      // about one of them.
      const int64_t expected = std::min(idle_.max_message_bytes, expected_message_bytes_);
      ARROW_ASSIGN_OR_RAISE(receiving,
                            idle_.budget->Reserve(expected, "receiving a DoPut message"));
    }
    received_bytes = 0;
    refusal = arrow::Status::OK();  // a stale reason from an earlier call on this thread
    if (activity_) activity_->BeginWait();
    auto chunk = inner_->Next();
    if (activity_) activity_->EndWait();
    received_by.reset();  // this call's own activity, set again by each message
    // From its first batch on, a call is expected to send alike batches.
    if (received_bytes > 0) expected_message_bytes_ = std::max(kMinMessageBytes, received_bytes);
    if (idle_.received_bytes) idle_.received_bytes->fetch_add(received_bytes);
    auto refused = TakeMessageRefusal();
    if (!refused.ok()) return refused;
    if (activity_ && activity_->cancelled()) {
      return arrow::Status::Cancelled(
          "the DoPut sent nothing for ", idle_.timeout.count(),
          " s (limits.idle_timeout_s): cancelled, nothing committed");
    }
    if (!chunk.ok()) return ClientsBytes(chunk.status());
    return chunk;
  }

  arrow::ipc::ReadStats stats() const override { return inner_->stats(); }

 private:
  // A message Arrow could not decode ("Invalid flatbuffers message", "Array length did
  // not match record batch length") is an IOError there, which gRPC answers UNKNOWN: it
  // is the client's bytes, as the HTTP upload's 400 says. gRPC itself never fails a
  // server's read (a broken stream reads as its end).
  arrow::Status ClientsBytes(const arrow::Status& status) const {
    if (!status.IsIOError() || context_.is_cancelled()) return status;
    return arrow::Status::Invalid("the upload is not a valid Arrow IPC stream: ",
                                  status.message());
  }

  std::unique_ptr<fl::FlightMessageReader> inner_;
  const fl::ServerCallContext& context_;  // outlives the reader: both end with the call
  const IdleLimit idle_;
  std::shared_ptr<PutActivity> activity_;  // null: no interceptor (tests) or not a DoPut
  int64_t expected_message_bytes_ = kFirstMessageBytes;
  std::shared_ptr<CallCancellation> cancellation_;
  CallCancellation::Subscription subscription_;
  CallWatchdog::Watch watch_;  // last: unwatched before the rest goes
};

}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface>
MakeMessageLimitsInterceptorFactory(int64_t max_batch_bytes,
                                    std::shared_ptr<MemoryBudget> budget) {
  return std::make_unique<MessageLimitsInterceptorFactory>(max_batch_bytes, std::move(budget));
}

int MaxReceiveMessageSize(int64_t max_batch_bytes) {
  const int64_t limit = std::max<int64_t>(max_batch_bytes, 0);
  if (limit >= INT_MAX - kHeaderHeadroom) return INT_MAX;
  return static_cast<int>(limit + kHeaderHeadroom);
}

std::unique_ptr<fl::FlightMessageReader> WithMessageLimits(
    std::unique_ptr<fl::FlightMessageReader> reader, const fl::ServerCallContext& context,
    IdleLimit idle) {
  return std::make_unique<LimitedMessageReader>(std::move(reader), context, idle);
}

arrow::Status TakeMessageRefusal() {
  arrow::Status out = std::move(refusal);
  refusal = arrow::Status::OK();
  return out;
}

}  // namespace arrowport::flight
