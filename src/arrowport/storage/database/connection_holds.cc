// Connection: holding tables against changes of their shape (table_gates.h).
#include "arrowport/storage/database/connection.h"

#include <map>

#include "arrow/util/string.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/database/connection_impl.h"
#include "arrowport/storage/sandbox/sandbox_rules.h"

namespace arrowport::storage {

arrow::Result<TablePass> Connection::Hold(
    const TableName& table, TableUse use,
    const std::shared_ptr<CallCancellation>& cancellation) {
  // The request log is written beside every request with an id and never reshaped by a
  // client (the sandbox refuses it): holding it would tie unrelated tables together.
  if (IsServerState("", table.schema, table.table, false)) return TablePass();
  return HoldName(table.table, use, cancellation);
}

arrow::Result<TablePass> Connection::HoldName(
    const std::string& name, TableUse use,
    const std::shared_ptr<CallCancellation>& cancellation) {
  // Every write and change of shape passes here before DuckDB writes anything: refused
  // while the disk is below storage.min_free_mb, before DuckDB meets a full disk.
  if (impl_->disk) ARROW_RETURN_NOT_OK(impl_->disk->CheckWrite());
  if (!impl_->gates) return TablePass();
  const bool in_transaction = this->in_transaction();
  // Holds of a transaction DuckDB ended by itself (an invalidated database) end with it.
  if (!in_transaction) impl_->transaction_holds.clear();
  const auto deadline = TableGates::Clock::now() + kTableWaitLimit;
  ARROW_ASSIGN_OR_RAISE(
      auto pass, impl_->gates->Enter(name, use, impl_.get(), deadline, cancellation,
                                     impl_->holder_name));
  if (!in_transaction) return pass;
  impl_->transaction_holds.push_back(std::move(pass));
  return TablePass();
}

void Connection::NameHolder(std::string who) {
  impl_->holder_name =
      std::make_shared<const TableHolder>(TableHolder{std::move(who), TableGates::Clock::now()});
}

bool Connection::HoldsUpOthers() const {
  return impl_->gates != nullptr && impl_->gates->HoldsUpOthers(impl_.get());
}

arrow::Result<std::vector<TablePass>> Connection::HoldAll(
    const std::vector<HeldTable>& tables,
    const std::shared_ptr<CallCancellation>& cancellation, bool writes_stored_data) {
  // One order for every caller (by name as the gates key it, each table once with its
  // strongest use): two statements holding T1 and T2 in opposite orders would otherwise
  // wait on each other until kTableWaitLimit.
  std::map<std::string, HeldTable> ordered;
  for (const auto& table : tables) {
    // Resolved as the statement will resolve it (a temporary table first), just before
    // it runs on this connection: no other connection sees this one's temporary tables.
    const bool temporary =
        table.created ? table.temporary
                      : table.temporary_when_prepared &&
                            NamesTemporaryTable(impl_->conn.get(), table.catalog,
                                                table.schema, table.name);
    if (temporary) continue;
    auto [it, added] = ordered.emplace(arrow::internal::AsciiToLower(table.name), table);
    if (!added && table.use == TableUse::kReshape) it->second.use = TableUse::kReshape;
  }
  // Hold() asks the disk for each table; a statement that writes the database but holds
  // none (CREATE SCHEMA, nextval, an insert into a temporary table of nextval's values)
  // asks here: it committed into a deleted file and was lost at the next start.
  if (ordered.empty() && writes_stored_data && impl_->disk) {
    ARROW_RETURN_NOT_OK(impl_->disk->CheckWrite());
  }
  std::vector<TablePass> passes;
  for (const auto& [key, table] : ordered) {
    ARROW_ASSIGN_OR_RAISE(auto pass, HoldName(table.name, table.use, cancellation));
    if (pass) passes.push_back(std::move(pass));
  }
  return passes;
}

}  // namespace arrowport::storage
