#pragma once

// Internal to the Flight adapter: what an admitted call holds, and the readers that keep
// it alive for as long as the call's data flows.

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>

#include <memory>

#include "arrow/record_batch.h"
#include "arrowport/common/call_context.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/request_limiter.h"
#include "arrowport/flight/flight_status.h"

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
};

// A DoPut's batches. gRPC ends the read side the same way whether the client finished or
// vanished (crash, cancel, deadline, server shutdown); only the call's cancelled flag
// tells them apart, and an unfinished request must never be committed as if complete.
class PutReader : public arrow::RecordBatchReader {
 public:
  PutReader(std::shared_ptr<arrow::RecordBatchReader> inner, const fl::ServerCallContext* call)
      : inner_(std::move(inner)), call_(call) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(inner_->ReadNext(out));
    if (*out == nullptr && call_->is_cancelled()) {
      return arrow::Status::Cancelled("the DoPut was cancelled before the client finished "
                                      "sending (client gone, deadline or server shutdown)");
    }
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  const fl::ServerCallContext* call_;  // outlives the reader: both end with the call
};

// A DoGet result that keeps its call's scope alive until the stream is done.
class ScopedReader : public arrow::RecordBatchReader {
 public:
  ScopedReader(std::shared_ptr<arrow::RecordBatchReader> inner, CallScope scope)
      : scope_(std::move(scope)), inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    // Errors after the first batch reach the client through Arrow, not through DoGet's
    // return value: they get the same mapping here.
    return ToFlightStatus(inner_->ReadNext(out));
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  CallScope scope_;  // destroyed after inner_: the query stops before it is unwatched
  std::shared_ptr<arrow::RecordBatchReader> inner_;
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
  arrow::Result<fl::FlightPayload> Next() override {
    auto next = inner_->Next();
    if (!next.ok()) return ToFlightStatus(next.status());
    return next;
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  CallScope scope_;  // destroyed after inner_: the query stops before it is unwatched
  std::shared_ptr<void> running_;  // registered for CancelFlightInfo while streaming
  std::unique_ptr<fl::FlightDataStream> inner_;
};

}  // namespace arrowport::flight
