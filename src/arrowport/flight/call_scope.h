#pragma once

// Internal to the Flight adapter: what an admitted call holds, and the readers that keep
// it alive for as long as the call's data flows.

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>

#include <memory>

#include "arrow/record_batch.h"
#include "arrowport/common/call_context.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/request_limiter.h"
#include "arrowport/flight/flight_status.h"
#include "arrowport/metrics/server_metrics.h"

namespace arrowport::flight {

namespace fl = arrow::flight;

// What one admitted call holds until it ends: its admission permit and the watchdog's
// watch, which cancels it when the client cancels, its deadline passes or the server stops.
struct CallScope {
  RequestLimiter::Permit permit;
  CallWatchdog::Watch watch;
  CallContext context;
  /// Ends the gRPC call when, once cancelled, it does not end by itself (a result whose
  /// client stopped reading: Flight's write waits for it, no interrupt reaches it).
  CallCancellation::Subscription stuck;
  /// The call in the metrics (null when off): counted as running until the scope ends.
  std::shared_ptr<metrics::CallMeter> meter;
  /// Keeps the call found by its client's progress key (QueryProgressRegistry) until the
  /// scope ends; null when it sent none.
  std::shared_ptr<void> progress_listing;
  /// Where a result stream's end after the method returned is logged (null: nowhere),
  /// with the call's own fields (protocol, method, user): the method's log line said
  /// only "streaming".
  Logger* logger = nullptr;
  Logger::Fields log_fields;

  /// A result stream's failure after the method returned: what the client sees, counted
  /// and logged.
  arrow::Status Failed(const arrow::Status& status) {
    auto flight_status = ToFlightStatus(status);
    if (!flight_status.ok()) {
      if (meter) meter->SetOutcome(GrpcCodeName(flight_status), status.message());
      LogEnd(status);
    }
    return flight_status;
  }
  /// A result stream dropped before its end, unless it failed otherwise first, counts as
  /// CANCELLED: Flight stops reading a result early only when its client went (cancelled,
  /// deadline, disconnected: a write that failed, which gRPC may flag as cancelled only a
  /// moment later) or the server stops (or cut it: a client that stopped reading).
  /// Checking gRPC's flag missed about one in eight.
  void Dropped() {
    const arrow::Status reason =
        context.cancellation && context.cancellation->cancelled()
            ? context.cancellation->reason()
            : arrow::Status::Cancelled("the client left before the end of the result");
    if (meter && !meter->failed()) meter->SetOutcome("CANCELLED", reason.message());
    LogEnd(reason);
  }

 private:
  void LogEnd(const arrow::Status& status) {
    if (logger == nullptr || logged_end_) return;
    logged_end_ = true;
    Logger::Fields fields = log_fields;
    fields.push_back({"status", status.CodeAsString()});
    fields.push_back({"error", status.message()});
    logger->Warn("result stream ended early", fields);
  }
  bool logged_end_ = false;
};

/// The app_metadata-only message that ends a sealed upload (DoPut descriptor
/// `"sealed": true`): copy_to sends it after its last batch.
inline constexpr const char* kUploadEndMarker = "arrowport:end";

// An upload's batches (DoPut, DoExchange). gRPC ends the read side the same way whether
// the client finished or vanished (crash, cancel, deadline, server shutdown); only the
// call's cancelled flag tells them apart, and an unfinished request must never be
// committed as if complete. A sealed upload also carries an end marker after its last
// batch: a client that stops sending because it failed itself (half-closing the stream,
// which looks like a finished upload) leaves the marker out, and nothing is committed.
class PutReader : public arrow::RecordBatchReader {
 public:
  static arrow::Result<std::shared_ptr<PutReader>> Make(
      std::shared_ptr<fl::FlightMessageReader> reader, const fl::ServerCallContext* call,
      bool sealed) {
    ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
    return std::shared_ptr<PutReader>(
        new PutReader(std::move(reader), std::move(schema), call, sealed));
  }
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto chunk, reader_->Next());
      if (chunk.data != nullptr) {
        if (ended_) return arrow::Status::Invalid("a batch came after the upload's end marker");
        *out = std::move(chunk.data);
        return arrow::Status::OK();
      }
      if (chunk.app_metadata == nullptr) break;  // the end of the stream
      if (sealed_ && chunk.app_metadata->ToString() == kUploadEndMarker) ended_ = true;
    }
    if (call_->is_cancelled()) {
      return arrow::Status::Cancelled("the upload was cancelled before the client finished "
                                      "sending (client gone, deadline or server shutdown)");
    }
    if (sealed_ && !ended_) {
      // True of both modes: per_request had committed nothing, per_batch's batches
      // committed before stay (as acknowledged; its error adds how many).
      return arrow::Status::Invalid("the upload ended without its end marker (\"sealed\": "
                                    "true): its sender stopped early, so the request is "
                                    "incomplete and what was not committed yet is dropped");
    }
    return arrow::Status::OK();
  }

 private:
  PutReader(std::shared_ptr<fl::FlightMessageReader> reader,
            std::shared_ptr<arrow::Schema> schema, const fl::ServerCallContext* call,
            bool sealed)
      : reader_(std::move(reader)), schema_(std::move(schema)), call_(call), sealed_(sealed) {}

  std::shared_ptr<fl::FlightMessageReader> reader_;
  std::shared_ptr<arrow::Schema> schema_;
  const fl::ServerCallContext* call_;  // outlives the reader: both end with the call
  const bool sealed_;
  bool ended_ = false;
};

// A DoGet result that keeps its call's scope alive until the stream is done.
class ScopedReader : public arrow::RecordBatchReader {
 public:
  ScopedReader(std::shared_ptr<arrow::RecordBatchReader> inner, CallScope scope)
      : scope_(std::move(scope)), inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  ~ScopedReader() override {
    if (!ended_) scope_.Dropped();
  }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    // Flight asks for the next batch once it has written the last one: from a batch
    // handed over to the next ask, a write to the client is waiting.
    if (auto* stall = scope_.context.write_stall.get()) stall->End();
    // Errors after the first batch reach the client through Arrow, not through DoGet's
    // return value: they get the same mapping here.
    auto st = inner_->ReadNext(out);
    ended_ = !st.ok() || *out == nullptr;
    if (auto* stall = scope_.context.write_stall.get(); stall && !ended_) stall->Begin();
    return scope_.Failed(st);
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  CallScope scope_;  // destroyed after inner_: the query stops before it is unwatched
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  bool ended_ = false;  // its last batch or an error was read
};

// A Flight SQL DoGet result that keeps its call's scope alive until the stream is done.
class ScopedDataStream : public fl::FlightDataStream {
 public:
  ScopedDataStream(std::unique_ptr<fl::FlightDataStream> inner, CallScope scope,
                   std::shared_ptr<void> running)
      : scope_(std::move(scope)), running_(std::move(running)), inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() override { return inner_->schema(); }
  arrow::Result<fl::FlightPayload> GetSchemaPayload() override {
    return inner_->GetSchemaPayload();
  }
  ~ScopedDataStream() override {
    if (!ended_) scope_.Dropped();
  }
  arrow::Result<fl::FlightPayload> Next() override {
    // As ScopedReader: between a payload handed over and the next ask, Flight writes.
    if (auto* stall = scope_.context.write_stall.get()) stall->End();
    auto next = inner_->Next();
    if (!next.ok()) {
      ended_ = true;
      return scope_.Failed(next.status());
    }
    ended_ = next->ipc_message.metadata == nullptr;  // Arrow's end of a data stream
    if (auto* stall = scope_.context.write_stall.get(); stall && !ended_) stall->Begin();
    return next;
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  CallScope scope_;  // destroyed after inner_: the query stops before it is unwatched
  std::shared_ptr<void> running_;  // registered for CancelFlightInfo while streaming
  std::unique_ptr<fl::FlightDataStream> inner_;
  bool ended_ = false;  // its last payload or an error was read
};

}  // namespace arrowport::flight
