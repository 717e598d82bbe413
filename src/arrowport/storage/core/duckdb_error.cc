#include "arrowport/storage/core/duckdb_error.h"

#include <duckdb.h>

#include <string>

#include "arrowport/common/status_detail.h"
#include "arrowport/storage/memory/allocation_guard.h"

namespace arrowport::storage {

namespace {
// DuckDB messages start with "<Kind> Error: "; used when the C API gives no type.
int TypeFromMessage(std::string_view message) {
  struct Prefix { std::string_view text; int type; };
  static constexpr Prefix kPrefixes[] = {
      {"Parser Error", DUCKDB_ERROR_PARSER},
      {"Binder Error", DUCKDB_ERROR_BINDER},
      {"Catalog Error", DUCKDB_ERROR_CATALOG},
      {"Conversion Error", DUCKDB_ERROR_CONVERSION},
      {"Constraint Error", DUCKDB_ERROR_CONSTRAINT},
      {"Invalid Input Error", DUCKDB_ERROR_INVALID_INPUT},
      {"Not implemented Error", DUCKDB_ERROR_NOT_IMPLEMENTED},
      {"INTERRUPT Error", DUCKDB_ERROR_INTERRUPT},
      {"Out of Memory Error", DUCKDB_ERROR_OUT_OF_MEMORY},
      {"TransactionContext Error", DUCKDB_ERROR_TRANSACTION},
      {"Transaction Error", DUCKDB_ERROR_TRANSACTION},
      {"Invalid Error", DUCKDB_ERROR_INVALID},
      {"IO Error", DUCKDB_ERROR_IO},
      {"Permission Error", DUCKDB_ERROR_PERMISSION},
      {"Sequence Error", DUCKDB_ERROR_SEQUENCE},
      {"Dependency Error", DUCKDB_ERROR_DEPENDENCY},
      {"Object Size Error", DUCKDB_ERROR_OBJECT_SIZE},
      {"FATAL Error", DUCKDB_ERROR_FATAL},
      {"INTERNAL Error", DUCKDB_ERROR_INTERNAL},
  };
  for (const auto& p : kPrefixes) {
    if (message.substr(0, p.text.size()) == p.text) return p.type;
  }
  return -1;
}

// Where DuckDB's own `words` open `message`, after at most its error type ("FATAL Error: "),
// the offset just past them; npos otherwise. Text quoted from data (a key in a constraint
// error) or from SQL (error('...')) comes later, or after more than that prefix.
size_t AfterOpeningWords(std::string_view message, std::string_view words) {
  const auto at = message.find(words);
  if (at == std::string_view::npos) return std::string_view::npos;
  const auto prefix = message.substr(0, at);
  const bool opens = prefix.empty() || (prefix.size() >= 8 &&
                                        prefix.substr(prefix.size() - 8) == " Error: " &&
                                        prefix.find(':') == prefix.size() - 2);
  return opens ? at + words.size() : std::string_view::npos;
}

// A commit that failed on the database's own files (its WAL cannot be opened in a
// directory the server may not write, the disk is full): every retry fails the same way
// until the operator acts, so it is the server's failure, never a conflict to retry.
bool CommitFailedOnStorage(std::string_view message) {
  const auto after = AfterOpeningWords(message, "Failed to commit: ");
  if (after == std::string_view::npos) return false;
  const auto cause = message.substr(after);
  // DuckDB's file system's words (local_file_system.cpp); a full disk is "Could not write".
  static constexpr std::string_view kFileFailures[] = {
      "Cannot open file", "Could not write", "Could not fsync",    "Could not read",
      "Could not flush",  "Could not truncate", "Could not seek", "Failed to create directory"};
  // Out of descriptors clears by itself once other files close: still a retry.
  if (cause.find("Too many open files") != std::string_view::npos) return false;
  for (const auto failure : kFileFailures) {
    if (cause.substr(0, failure.size()) == failure) return true;
  }
  return false;
}
// DuckDB's "<Kind> with name <name> already exists!": the words close the message (a name
// that holds them is quoted, so its quote follows).
bool EndsSayingAlreadyExists(std::string_view message) {
  constexpr std::string_view kWords = " already exists";
  const auto at = message.rfind(kWords);
  if (at == std::string_view::npos) return false;
  const auto rest = message.substr(at + kWords.size());
  return rest.find_first_not_of("!. \n") == std::string_view::npos;
}

// A full disk or quota met by DuckDB's file system, which quotes the operating system's
// words (strerror of ENOSPC, EDQUOT) in an IO error, a FATAL one (the database then
// invalidated) or a commit that failed on its files; other kinds of error may quote
// client data, which could say anything.
bool MetFullDisk(int error_type, std::string_view message) {
  if (message.find("No space left on device") == std::string_view::npos &&
      message.find("Disk quota exceeded") == std::string_view::npos) {
    return false;
  }
  switch (error_type) {
    case DUCKDB_ERROR_IO:
    case DUCKDB_ERROR_FATAL:
    case DUCKDB_ERROR_INTERNAL:
      return true;
    case DUCKDB_ERROR_TRANSACTION:
      return CommitFailedOnStorage(message);
    default:
      return false;
  }
}

// DuckDB's words for a statement on an invalidated instance ("FATAL Error: Failed:
// database has been invalidated because of a previous fatal error") or catalog ("IO
// Error: Database \"d\" has been invalidated because checkpointing failed"), or a
// transaction's failure quoting them; other kinds of error may quote client data.
bool SaysInvalidated(int error_type, std::string_view message) {
  if (error_type != DUCKDB_ERROR_FATAL && error_type != DUCKDB_ERROR_INTERNAL &&
      error_type != DUCKDB_ERROR_IO && error_type != DUCKDB_ERROR_TRANSACTION) {
    return false;
  }
  return message.find("has been invalidated because") != std::string_view::npos;
}

// DuckDB's advice for a statement nested too deep ("Use SET max_expression_depth") is no
// client's to follow: the limit is the server's, locked (sql_sandbox_settings.h).
// An internal error carries DuckDB's stack trace: library paths and load addresses, which
// tell a client where the server's code sits in memory and nothing it can act on.
std::string Explained(std::string_view message) {
  std::string text(message);
  const auto trace = text.find("\n\nStack Trace:\n");
  if (trace != std::string::npos) {
    const auto after = text.find("\n\nThis error signals", trace);
    text.erase(trace, after == std::string::npos ? std::string::npos : after - trace);
  }
  const auto advice = text.find(" Use \"SET max_expression_depth");
  if (advice != std::string::npos) {
    text = text.substr(0, advice) + " The server keeps this limit: DuckDB binds deeper "
           "nesting too slowly to be stopped; write the statement flatter.";
  }
  return text;
}

// Whether a failed commit's words say it ran out of memory. They hold the buffer
// manager's raw message, without its "Out of Memory Error" type ("Failed to commit:
// failed to pin block of size 256.0 KiB", "could not allocate block ...").
bool SaysOutOfMemory(const std::string& text) {
  for (const char* words : {"could not allocate", "failed to pin block", "failed to allocate",
                            "Out of Memory", "bad allocation"}) {
    if (text.find(words) != std::string::npos) return true;
  }
  return false;
}

// Errors about the client's statement as it stands (INVALID_ARGUMENT, HTTP 400).
bool IsAboutTheStatement(int error_type) {
  switch (error_type) {
    case DUCKDB_ERROR_PARSER:
    case DUCKDB_ERROR_SYNTAX:
    case DUCKDB_ERROR_BINDER:
    case DUCKDB_ERROR_CONVERSION:
    case DUCKDB_ERROR_CONSTRAINT:
    case DUCKDB_ERROR_OUT_OF_RANGE:
    case DUCKDB_ERROR_DECIMAL:
    case DUCKDB_ERROR_MISMATCH_TYPE:
    case DUCKDB_ERROR_DIVIDE_BY_ZERO:
    case DUCKDB_ERROR_INVALID_TYPE:
    case DUCKDB_ERROR_INVALID_INPUT:
    case DUCKDB_ERROR_PARAMETER_NOT_RESOLVED:
    case DUCKDB_ERROR_PARAMETER_NOT_ALLOWED:
    case DUCKDB_ERROR_PLANNER:
    case DUCKDB_ERROR_EXPRESSION:
    case DUCKDB_ERROR_INVALID:
    case DUCKDB_ERROR_UNKNOWN_TYPE:
    // Internal errors (500) before: currval before any nextval in the session, a
    // sequence at its bound; DROP of what others depend on (CASCADE says what it would
    // take); a value past DuckDB's sizes.
    case DUCKDB_ERROR_SEQUENCE:
    case DUCKDB_ERROR_DEPENDENCY:
    case DUCKDB_ERROR_OBJECT_SIZE:
      return true;
    default:
      return false;
  }
}

}  // namespace

arrow::Status TranslateDuckDBError(int error_type, std::string_view message) {
  if (error_type < 0) error_type = TypeFromMessage(message);
  const std::string text = Explained(message);
  // The database an earlier failure invalidated is reopened by the server within a second:
  // a retry (as disk full, reads were refused until the upkeep thread saw it).
  if (SaysInvalidated(error_type, text) && !CommittedDespiteError(text)) {
    return ServerBusy("DuckDB invalidated the database, which the server is reopening: "
                      "retry in a few seconds; committed data is kept (", text, ")");
  }
  // Whatever DuckDB was doing: what the client must know is that writes fail until space
  // is freed (Flight RESOURCE_EXHAUSTED, HTTP 507), not that the server broke.
  if (MetFullDisk(error_type, text) && !CommittedDespiteError(text)) {
    return DiskFull("disk full: the database's disk has no space left; what was not "
                    "acknowledged was not committed, and writes succeed again once space "
                    "is freed (", text, ")");
  }
  if (IsAboutTheStatement(error_type)) return arrow::Status::Invalid(text);
  switch (error_type) {
    case DUCKDB_ERROR_CATALOG:
      // "Table with name t already exists!": there, not missing (ALREADY_EXISTS, HTTP 409;
      // as KeyError it reached clients as NOT_FOUND and 404).
      if (EndsSayingAlreadyExists(message)) return arrow::Status::AlreadyExists(text);
      return arrow::Status::KeyError(text);
    case DUCKDB_ERROR_INTERRUPT:
      return arrow::Status::Cancelled(text);
    case DUCKDB_ERROR_OUT_OF_MEMORY:
      // DuckDB reports the allocation guard's refusals as a failed allocation: its
      // allocators' ("bad allocation") and operator new's ("Allocation failure").
      if (text.find("bad allocation") != std::string::npos ||
          text.find("Allocation failure") != std::string::npos) {
        return ResourceExhausted(
            "the query needs more memory than the server lets DuckDB hold (", 
            AllocationGuard::budget_bytes() >> 20, " MiB in all: duckdb.memory_limit plus "
            "limits.max_query_memory, for every query together); retry when fewer queries "
            "run, or ask for less (", text, ")");
      }
      return ResourceExhausted(text, " (duckdb.memory_limit)");
    case DUCKDB_ERROR_NOT_IMPLEMENTED:
      return arrow::Status::NotImplemented(text);
    case DUCKDB_ERROR_PERMISSION:
      // File or network access from SQL with external access off (SqlSandboxSettings).
      return PermissionDenied("SQL sandbox: ", text);
    case DUCKDB_ERROR_TRANSACTION:
    case DUCKDB_ERROR_SERIALIZATION:
      // A commit that failed for memory would fail again: it is a resource error, not a
      // conflict to retry at once.
      if (SaysOutOfMemory(text)) return ResourceExhausted(text, " (duckdb.memory_limit)");
      if (CommitFailedOnStorage(text)) {
        return arrow::Status::IOError(
            "the server cannot use its database files, nothing was committed; retrying "
            "fails the same way until the server's storage is fixed (", text, ")");
      }
      // No retry of the statement can succeed in an aborted transaction: only ending it.
      if (text.find("Current transaction is aborted") != std::string::npos) {
        return InUse("the transaction was aborted by an earlier failed or cancelled "
                     "statement: roll it back, nothing of it can commit (", text, ")");
      }
      return RetryableConflict("retryable conflict: ", text);
    default:
      return arrow::Status::IOError(text);
  }
}

bool IsMalformedVariant(const arrow::Status& status) {
  return status.IsIOError() &&
         status.message().find("IO Error: Corrupted VARIANT") != std::string::npos;
}

bool CommittedDespiteError(std::string_view message) {
  return AfterOpeningWords(message, "Transaction COMMIT succeeded and is durable, but the "
                                    "autocheckpoint failed.") != std::string_view::npos;
}

arrow::Status UnlessCommitted(arrow::Status status) {
  if (!status.ok() && CommittedDespiteError(status.message())) return arrow::Status::OK();
  return status;
}

arrow::Status ConsumeErrorData(duckdb_error_data error) {
  if (error == nullptr) return arrow::Status::OK();
  arrow::Status st;
  if (duckdb_error_data_has_error(error)) {
    st = TranslateDuckDBError(duckdb_error_data_error_type(error),
                              duckdb_error_data_message(error));
  }
  duckdb_destroy_error_data(&error);
  return st;
}

arrow::Status ResultError(duckdb_result* result) {
  const char* message = duckdb_result_error(result);
  return TranslateDuckDBError(duckdb_result_error_type(result),
                              message ? message : "unknown DuckDB error");
}

}  // namespace arrowport::storage
