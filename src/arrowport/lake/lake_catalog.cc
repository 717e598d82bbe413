#include "arrowport/lake/lake_catalog.h"
#include "arrowport/lake/ducklake_log.h"
#include "arrowport/objectstore/open_store.h"

namespace arrowport::lake {

objectstore::S3Settings S3SettingsOf(const config::Config::S3& s3) {
  objectstore::S3Settings settings;
  settings.endpoint = s3.endpoint;
  settings.region = s3.region;
  settings.path_style = s3.url_style != "vhost";
  settings.ca_file = s3.ca_file;
  settings.access_key_id = s3.access_key_id;
  settings.secret_access_key = s3.secret_access_key;
  settings.session_token = s3.session_token;
  settings.part_bytes = s3.part_mb << 20;
  settings.timeout_ms = s3.timeout_ms;
  settings.call_timeout_ms = s3.call_timeout_ms;
  settings.trust_conditional_writes = s3.conditional_writes == "trust";
  return settings;
}

LakeCatalog::LakeCatalog(objectstore::S3Settings s3, Logger* logger,
                         std::shared_ptr<MemoryBudget> budget,
                         std::shared_ptr<const SealKey> key)
    : s3_(std::move(s3)),
      logger_(logger),
      budget_(std::move(budget)),
      key_(key ? std::move(key) : SealKey::Random()) {}

arrow::Result<std::shared_ptr<LakeTable>> LakeCatalog::Table(const config::LakeConfig& lake) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Streams sharing a URL with the same settings share a table (its snapshot, counters);
  // different settings get a table each (both commit put-if-absent).
  for (const auto& table : tables_[lake.url]) {
    if (table->config() == lake) return table;
  }
  ARROW_ASSIGN_OR_RAISE(auto store, objectstore::OpenObjectStore(lake.url, s3_));
  std::unique_ptr<TableLog> log;
  if (lake.format == config::LakeFormat::kDuckLake) {
    log = std::make_unique<DuckLakeLog>(
        DuckLakeTableName{lake.catalog, lake.data_path, lake.schema, lake.table}, key_);
  } else {
    log = std::make_unique<DeltaLog>(store, key_);
  }
  auto table = std::make_shared<LakeTable>(std::move(store), lake, logger_, budget_,
                                           std::move(log));
  auto& same_url = tables_[lake.url];
  // A reload that changed the settings replaces the older table (at most a few kept).
  if (same_url.size() >= 4) same_url.erase(same_url.begin());
  same_url.push_back(table);
  return table;
}

}  // namespace arrowport::lake
