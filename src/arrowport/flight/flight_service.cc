#include "arrowport/flight/flight_service.h"

#include <arrow/flight/api.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include "arrow/record_batch.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/common/request_limiter.h"
#include "arrowport/flight/actions.h"
#include "arrowport/flight/auth_middleware.h"
#include "arrowport/flight/call_runner.h"
#include "arrowport/flight/call_scope.h"
#include "arrowport/flight/cluster_view.h"
#include "arrowport/flight/exchange.h"
#include "arrowport/flight/flight_status.h"
#include "arrowport/flight/message_limits.h"
#include "arrowport/flight/query_progress.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_access.h"
#include "arrowport/flight/sql/flight_sql_command.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {


arrow::Result<query::QueryRequest> RequestFromDescriptor(const fl::FlightDescriptor& d) {
  if (d.type == fl::FlightDescriptor::PATH) {
    if (d.path.size() != 1) return arrow::Status::Invalid("descriptor path must be [table]");
    return query::ParseTicket(json{{"table", d.path[0]}}.dump());
  }
  return query::ParseTicket(d.cmd);
}

// What reading `request` needs: a table read by name is checked against the user's list;
// SQL is judged by the SQL sandbox when it is prepared.
arrow::Status CheckRead(const Principal* principal, const query::QueryRequest& request) {
  if (!request.table.empty())
    return auth::AccessPolicy::ReadTable(principal, request.table);
  return arrow::Status::OK();
}

// The one reading of a descriptor's type URL in a call (a PATH descriptor is ours).
sql::FlightSqlCommand CommandOf(const fl::FlightDescriptor& descriptor) {
  if (descriptor.type != fl::FlightDescriptor::CMD) return {};
  return sql::FlightSqlCommand::Of(descriptor.cmd);
}

// Flight SQL's DoPut commands that run client SQL get a query's deadline; an ingest is
// an upload, bounded by limits.idle_timeout_s instead.
Deadline PutDeadline(const sql::FlightSqlCommand& command) {
  return command.name == "CommandStatementUpdate" ||
                 command.name == "CommandPreparedStatementUpdate"
             ? Deadline::kQuery
             : Deadline::kNone;
}

class FlightService : public fl::FlightServerBase {
 public:
  explicit FlightService(FlightServiceDeps deps)
      : deps_(std::move(deps)),
        runner_({deps_.watchdog, deps_.limiter, deps_.logger, deps_.query_timeout_s,
                 deps_.write_stall_timeout_s, deps_.max_command_bytes, deps_.metrics}) {
    if (deps_.sql_sessions != nullptr) {
      sql::FlightSqlDeps sql_deps;
      sql_deps.ingest = deps_.ingest;
      sql_deps.endpoints_of = [cluster = deps_.cluster](query::ReadPlan plan) {
        return EndpointsOfPlan(std::move(plan), cluster);
      };
      sql_deps.query = deps_.query;
      sql_deps.logger = deps_.logger;
      sql_deps.registry = deps_.sql_sessions;
      sql_deps.busy_timeout = deps_.sql_busy_timeout;
      sql_ = std::make_unique<sql::FlightSqlService>(std::move(sql_deps));
    }
  }

  arrow::Status DoPut(const fl::ServerCallContext& context,
                      std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) override {
    // Batches over limits.max_batch_bytes were refused before decoding: report why.
    // A DoPut that sends nothing for limits.idle_timeout_s is cancelled (its slot freed).
    auto received = std::make_shared<std::atomic<int64_t>>(0);
    reader = WithMessageLimits(std::move(reader), context,
                               {deps_.watchdog, std::chrono::seconds(deps_.idle_timeout_s),
                                deps_.logger, deps_.request_memory,
                                MaxReceiveMessageSize(deps_.max_batch_bytes), received});
    const auto& descriptor = reader->descriptor();
    // A Flight SQL command that runs client SQL gets a query's deadline; an upload none.
    const auto command = CommandOf(descriptor);
    const bool flight_sql = command.is_flight_sql();
    const Call call{"do_put", command, flight_sql, descriptor.cmd.size(), "the command",
                    /*put=*/true, sql_ && flight_sql ? PutDeadline(command) : Deadline::kNone};
    return Dispatch(context, call, [&](CallScope&, CallRecord&) {
      return sql_->DoPut(context, std::move(reader), std::move(writer));
    }, [&](CallScope& scope, CallRecord& record) -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto request,
                            ingest::ParseDescriptor(descriptor.type == fl::FlightDescriptor::PATH,
                                                    descriptor.path, descriptor.cmd));
      record.Add("stream", request.stream);
      request.wire_bytes = [received] { return received->load(); };
      ARROW_ASSIGN_OR_RAISE(auto run, deps_.ingest->Begin(std::move(request)));
      ARROW_RETURN_NOT_OK(auth::AccessPolicy::WriteStream(scope.context.principal.get(),
                                                          run.request().stream,
                                                          run.request().table));
      ARROW_ASSIGN_OR_RAISE(auto source, PutReader::Make(std::move(reader), &context,
                                                          run.request().sealed));
      // A client that stops reading its acknowledgements holds their write: watched.
      auto ack = [&](int64_t index, int64_t rows) {
        WriteStall::Scope waiting(scope.context.write_stall.get());
        return writer->WriteMetadata(*arrow::Buffer::FromString(BatchAckJson(index, rows)));
      };
      // The pipeline validates and reads ahead (network receive and IPC decoding included).
      ARROW_ASSIGN_OR_RAISE(auto result,
                            deps_.ingest->Ingest(std::move(run), source, ack,
                                                 scope.context));
      WriteStall::Scope waiting(scope.context.write_stall.get());
      ARROW_RETURN_NOT_OK(
          writer->WriteMetadata(*arrow::Buffer::FromString(IngestSummaryJson(result))));
      record.Add("table", result.table);
      record.fields.push_back({"rows", std::to_string(result.rows)});
      record.fields.push_back({"bytes", std::to_string(result.bytes)});
      return arrow::Status::OK();
    });
  }

  arrow::Status DoGet(const fl::ServerCallContext& context, const fl::Ticket& ticket,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    const auto command = sql::FlightSqlCommand::Of(ticket.ticket);
    const Call call{"do_get", command, command.is_flight_sql(), ticket.ticket.size(),
                    "the ticket", /*put=*/false, Deadline::kQuery};
    return Dispatch(context, call, [&](CallScope& scope, CallRecord& record) -> arrow::Status {
      record.outcome = "streaming";
      ListProgress(context, scope);
      std::unique_ptr<fl::FlightDataStream> inner;
      ARROW_ASSIGN_OR_RAISE(auto caller, sql_->CallerOf(context, /*create=*/false));
      // Cancellable from before the query starts: an aggregate can run long first.
      auto running = deps_.sql_sessions->TrackRunning(ticket.ticket, scope.context.cancellation,
                                                      sql::Owner::Of(caller));
      ARROW_RETURN_NOT_OK(sql_->DoGet(context, ticket, &inner));
      *stream = std::make_unique<ScopedDataStream>(std::move(inner), std::move(scope),
                                                   std::move(running));
      return arrow::Status::OK();
    }, [&](CallScope& scope, CallRecord& record) -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto request, RequestOfTicket(ticket.ticket, deps_.cluster));
      AddTarget(request, record);
      ARROW_RETURN_NOT_OK(CheckRead(scope.context.principal.get(), request));
      ListProgress(context, scope);
      ARROW_ASSIGN_OR_RAISE(auto reader, deps_.query->Execute(request, scope.context));
      *stream = std::make_unique<fl::RecordBatchStream>(
          std::make_shared<ScopedReader>(std::move(reader), std::move(scope)));
      record.outcome = "streaming";
      return arrow::Status::OK();
    });
  }

  arrow::Status GetFlightInfo(const fl::ServerCallContext& context,
                              const fl::FlightDescriptor& descriptor,
                              std::unique_ptr<fl::FlightInfo>* info) override {
    // Flight SQL's DDL/DML down the query path runs here: it gets a query's deadline.
    // Plain Flight reads the catalog (and counts rows): admitted like the HTTP metadata
    // routes.
    const auto command = CommandOf(descriptor);
    const Call call{"get_flight_info", command, command.is_flight_sql(),
                    descriptor.cmd.size(), "the command", /*put=*/false, Deadline::kQuery};
    return Dispatch(context, call, [&](CallScope&, CallRecord&) {
      return sql_->GetFlightInfo(context, descriptor, info);
    }, [&](CallScope& scope, CallRecord& record) -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto request, RequestFromDescriptor(descriptor));
      AddTarget(request, record);
      ARROW_RETURN_NOT_OK(CheckRead(scope.context.principal.get(), request));
      ARROW_ASSIGN_OR_RAISE(auto made, MakeInfo(descriptor, scope.context));
      *info = std::make_unique<fl::FlightInfo>(std::move(made));
      return arrow::Status::OK();
    });
  }

  // Every query here is planned at once: the first poll is the final answer. Through
  // GetFlightInfo, so through the call runner.
  arrow::Status PollFlightInfo(const fl::ServerCallContext& context,
                               const fl::FlightDescriptor& descriptor,
                               std::unique_ptr<fl::PollInfo>* info) override {
    std::unique_ptr<fl::FlightInfo> flight_info;
    ARROW_RETURN_NOT_OK(GetFlightInfo(context, descriptor, &flight_info));
    *info = std::make_unique<fl::PollInfo>(std::move(flight_info), std::nullopt, 1.0,
                                           std::nullopt);
    return arrow::Status::OK();
  }

  arrow::Status GetSchema(const fl::ServerCallContext& context,
                          const fl::FlightDescriptor& descriptor,
                          std::unique_ptr<fl::SchemaResult>* result) override {
    const auto command = CommandOf(descriptor);
    const Call call{"get_schema", command, command.is_flight_sql(), descriptor.cmd.size(),
                    "the command", /*put=*/false, Deadline::kQuery};
    return Dispatch(context, call, [&](CallScope&, CallRecord&) {
      return sql_->GetSchema(context, descriptor, result);
    }, [&](CallScope& scope, CallRecord& record) -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto request, RequestFromDescriptor(descriptor));
      AddTarget(request, record);
      ARROW_RETURN_NOT_OK(CheckRead(scope.context.principal.get(), request));
      ARROW_ASSIGN_OR_RAISE(auto schema, deps_.query->Describe(request, scope.context));
      ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(*schema));
      return arrow::Status::OK();
    });
  }

  arrow::Status ListFlights(const fl::ServerCallContext& context, const fl::Criteria* criteria,
                            std::unique_ptr<fl::FlightListing>* listings) override {
    return runner_.Run("list_flights", context, Deadline::kQuery,
                       [&](CallScope& scope, CallRecord&) -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto relations, deps_.query->ListTables());
      std::vector<fl::FlightInfo> infos;
      const auto* principal = scope.context.principal.get();
      for (const auto& relation : relations) {
        // A user limited to tables sees only those.
        if (!auth::AccessPolicy::ReadTable(principal, relation.name).ok()) continue;
        auto info = MakeInfo(fl::FlightDescriptor::Path({relation.name}), scope.context,
                             relation.estimated_rows);
        if (!info.ok()) {
          // A view over missing files must not hide every other table.
          deps_.logger->Warn("list_flights: skipping relation",
                             {{"name", relation.name}, {"error", info.status().ToString()}});
          continue;
        }
        infos.push_back(std::move(*info));
      }
      *listings = std::make_unique<fl::SimpleFlightListing>(std::move(infos));
      return arrow::Status::OK();
    });
  }

  arrow::Status ListActions(const fl::ServerCallContext& context,
                            std::vector<fl::ActionType>* actions) override {
    return runner_.Run("list_actions", context, Deadline::kNone,
                       [&](CallScope&, CallRecord&) -> arrow::Status {
      *actions = OurActions();
      if (sql_) {
        std::vector<fl::ActionType> sql_actions;
        ARROW_RETURN_NOT_OK(sql_->ListActions(context, &sql_actions));
        actions->insert(actions->end(), sql_actions.begin(), sql_actions.end());
      }
      return arrow::Status::OK();
    });
  }

  arrow::Status DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                         std::unique_ptr<fl::ResultStream>* result) override {
    // Flight SQL's actions are decoded by FlightSqlServerBase::DoAction itself. Preparing
    // a statement plans it (a lake view's files are read to bind it): a query's deadline.
    const bool flight_sql = sql::IsFlightSqlAction(action.type);
    const bool plans = flight_sql && action.type == "CreatePreparedStatement";
    Call call{"do_action", /*command=*/{}, flight_sql,
              action.body ? static_cast<size_t>(action.body->size()) : 0, "the action body",
              /*put=*/false, plans ? Deadline::kQuery : Deadline::kNone};
    call.action = &action.type;
    return Dispatch(context, call, [&](CallScope&, CallRecord&) {
      return sql_->DoAction(context, action, result);
    }, [&](CallScope& scope, CallRecord& record) {
      return RunAction(deps_, action, scope, &record, result, &progress_);
    });
  }

  arrow::Status DoExchange(const fl::ServerCallContext& context,
                           std::unique_ptr<fl::FlightMessageReader> reader,
                           std::unique_ptr<fl::FlightMessageWriter> writer) override {
    // Limited like a DoPut: batch size, memory, and limits.idle_timeout_s while the
    // client sends nothing.
    reader = WithMessageLimits(std::move(reader), context,
                               {deps_.watchdog, std::chrono::seconds(deps_.idle_timeout_s),
                                deps_.logger, deps_.request_memory,
                                MaxReceiveMessageSize(deps_.max_batch_bytes),
                                /*received_bytes=*/nullptr});
    // The command is checked for size, then parsed once: a query over the client's
    // stream has a query's deadline; landing it in a table is an upload
    // (limits.idle_timeout_s only).
    const auto& descriptor = reader->descriptor();
    auto size = runner_.CheckCommandSize(descriptor.cmd.size(), "the command");
    arrow::Result<ExchangeCommand> parsed =
        size.ok() ? ParseExchangeCommand(descriptor) : arrow::Result<ExchangeCommand>(size);
    const Deadline deadline = parsed.ok() && parsed->ingest ? Deadline::kNone : Deadline::kQuery;
    return runner_.Run("do_exchange", context, deadline,
                       [&](CallScope& scope, CallRecord& record) -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto command, std::move(parsed));
      if (command.ingest) {
        record.Add("stream", command.ingest->stream);
        ARROW_RETURN_NOT_OK(auth::AccessPolicy::WriteStream(
            scope.context.principal.get(), command.ingest->stream, command.ingest->table));
      }
      return RunExchange(command, deps_.ingest, context, scope.context, std::move(reader),
                         writer.get(), &record);
    });
  }

 private:
  /// What a call carries, for the one fork between Flight SQL and plain Flight.
  struct Call {
    const char* method;
    /// A command's or ticket's message type, read once (none for an action: Arrow's
    /// adapter decodes and judges an action's body).
    sql::FlightSqlCommand command;
    bool flight_sql;           ///< a Flight SQL message (the adapter then serves it if on)
    size_t size;               ///< of the command, ticket or action body
    const char* what;          ///< "the command", "the ticket", "the action body"
    bool put;                  ///< DoPut: the caller's rights to write are checked
    Deadline deadline;
    const std::string* action = nullptr;  ///< an action's type, logged with the call
  };

  /// \brief The one fork between Flight SQL and plain Flight, in the manner of Arrow's
  /// FlightSqlServerBase (the message's type read once, by the method that makes the
  /// Call, then one handler): each goes through the call runner with the common steps
  /// done once here (the action logged, the size checked; for Flight SQL, the call marked
  /// as Flight SQL, the message's type checked and the caller's rights on it), then runs
  /// `flight_sql` when Flight SQL is on and the call carries one of its messages, else
  /// `plain`.
  template <typename FlightSqlHandler, typename PlainHandler>
  arrow::Status Dispatch(const fl::ServerCallContext& context, const Call& call,
                         FlightSqlHandler&& flight_sql, PlainHandler&& plain) {
    const bool to_sql = sql_ != nullptr && call.flight_sql;
    return runner_.Run(call.method, context, call.deadline,
                       [&](CallScope& scope, CallRecord& record) -> arrow::Status {
      if (to_sql) record.UseFlightSql(scope);
      if (call.action != nullptr) record.Add("action", *call.action);
      ARROW_RETURN_NOT_OK(runner_.CheckCommandSize(call.size, call.what));
      if (!to_sql) return plain(scope, record);
      if (call.command.is_flight_sql()) {
        ARROW_RETURN_NOT_OK(sql::CheckFlightSqlCommand(call.command));
        ARROW_RETURN_NOT_OK(sql::CheckCommandAccess(scope.context.principal.get(),
                                                    call.command, call.put));
      }
      return flight_sql(scope, record);
    });
  }

  // The SQL sandbox judges the descriptor's SQL for the caller in `call`.
  arrow::Result<fl::FlightInfo> MakeInfo(const fl::FlightDescriptor& descriptor,
                                         const CallContext& call, int64_t known_rows = -1) {
    ARROW_ASSIGN_OR_RAISE(auto request, RequestFromDescriptor(descriptor));
    ARROW_ASSIGN_OR_RAISE(auto schema, deps_.query->Describe(request, call));
    // A whole lake table of several files, or a large DuckDB table: several endpoints
    // (query::QueryPipeline::PlanRead); anything else one. ListFlights (known_rows) lists
    // tables with one ticket each, without sizing them.
    if (known_rows >= 0) {
      return fl::FlightInfo::Make(*schema, descriptor, sql::EndpointsOf({query::TicketOf(request)}),
                                  known_rows, -1);
    }
    auto plan = deps_.query->PlanRead(request, /*count_rows=*/true, call.cancellation);
    const int64_t rows = plan.rows;
    const bool ordered = plan.ordered;
    return fl::FlightInfo::Make(*schema, descriptor,
                                EndpointsOfPlan(std::move(plan), deps_.cluster), rows, -1,
                                ordered);
  }

  // A DoGet whose client sent a progress key: found by its query_progress action (of the
  // same user) while it runs, DuckDB estimating how far its query has come.
  void ListProgress(const fl::ServerCallContext& context, CallScope& scope) {
    const auto& headers = context.incoming_headers();
    const auto sent = headers.find(QueryProgressRegistry::kHeader);
    if (sent == headers.end()) return;
    const std::string key(sent->second);
    if (!QueryProgressRegistry::ValidKey(key)) return;  // no key: no progress, no error
    auto& progress = scope.context.progress;
    if (!progress) progress = std::make_shared<CallProgress>();
    const Principal* caller = scope.context.principal.get();
    scope.progress_listing = progress_.List(caller ? caller->user : "", key, progress);
  }

  static void AddTarget(const query::QueryRequest& request, CallRecord& record) {
    if (!request.table.empty()) return record.Add("table", request.table);
    record.Add("sql", request.sql.substr(0, 200));
  }

  FlightServiceDeps deps_;
  CallRunner runner_;
  QueryProgressRegistry progress_;  // before sql_: outlives the calls it lists
  std::unique_ptr<sql::FlightSqlService> sql_;  // null when Flight SQL is off
};

}  // namespace

std::unique_ptr<fl::FlightServerBase> MakeFlightService(FlightServiceDeps deps) {
  return std::make_unique<FlightService>(std::move(deps));
}

}  // namespace arrowport::flight
