#include "arrowport/query/database_report.h"

#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/storage_health.h"

namespace arrowport::query {

DatabaseReport DatabaseControl::Report() const {
  DatabaseReport report;
  // Answered while the database is being reopened too (its settings then unknown): the
  // storage's state says what happened.
  auto settings = database_->Settings();
  const auto health = database_->Health();
  report.state = storage::StorageState(health);
  report.storage_json = storage::StorageHealthJson(health, /*with_details=*/true);
  report.path = database_->path();
  if (settings.ok()) {
    report.settings =
        DatabaseReport::Settings{settings->threads, settings->memory_limit,
                                 settings->external_access};
  }
  report.duckdb_held = database_->allocated_bytes();
  report.duckdb_budget = database_->allocation_budget_bytes();
  const auto checkpointer = database_->checkpointer_state();
  report.checkpoint_failures_in_a_row = checkpointer.failures_in_a_row;
  report.checkpoint_last_error = checkpointer.last_error;
  return report;
}

std::string DatabaseControl::StorageSummaryJson() const {
  return storage::StorageHealthJson(database_->Health(), /*with_details=*/false);
}

arrow::Status DatabaseControl::Checkpoint() const { return database_->Checkpoint(); }

}  // namespace arrowport::query
