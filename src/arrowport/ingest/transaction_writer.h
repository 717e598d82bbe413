#pragma once

#include "arrow/status.h"

namespace arrowport::storage {
class Database;
}

namespace arrowport::ingest {

struct WriteContext;

/// \brief Writes a request into the transaction a client holds open on the connection
/// it handed over (Flight SQL ingest with a transaction id, or on a session connection
/// inside one): nothing is committed here, the client's commit or rollback decides.
///
/// DuckDB lets one transaction write one catalog, and the other writers expose the
/// stream to SQL as a view of a scratch catalog; so here the schema's mapping is read on
/// a connection of its own and the batches go through DuckDB's appender as they arrive
/// (memory stays bounded by the batches in flight). A failure leaves the client's
/// transaction aborted (Connection::AbortTransaction): a half-written request can never
/// be committed, and nothing the client sends in that transaction afterwards runs.
class TransactionWriter {
 public:
  TransactionWriter(WriteContext* ctx, storage::Database* database)
      : ctx_(ctx), database_(database) {}

  arrow::Status Write();

 private:
  arrow::Status WriteBatches();

  WriteContext* ctx_;
  storage::Database* database_;
};

}  // namespace arrowport::ingest
