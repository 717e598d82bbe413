#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/logger.h"
#include "arrowport/config/config.h"
#include "arrowport/lake/lake_table.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::lake {

/// The object store settings of the config's `s3` section.
objectstore::S3Settings S3SettingsOf(const config::Config::S3& s3);

/// \brief Every lake table this server writes or reads, one LakeTable per URL (and lake
/// settings): requests and the view refresher share its snapshot. Thread-safe.
class LakeCatalog {
 public:
  /// The tables' kept snapshots are charged to `budget` (may be null). Their commits of
  /// request ids are sealed with `key` (commit_seal.h; null: a random key of each table's
  /// own, for tests).
  LakeCatalog(objectstore::S3Settings s3, Logger* logger,
              std::shared_ptr<MemoryBudget> budget = nullptr,
              std::shared_ptr<const SealKey> key = nullptr);

  /// The table of `lake`: the same object for the same URL and settings.
  arrow::Result<std::shared_ptr<LakeTable>> Table(const config::LakeConfig& lake);

 private:
  const objectstore::S3Settings s3_;
  Logger* const logger_;
  const std::shared_ptr<MemoryBudget> budget_;
  const std::shared_ptr<const SealKey> key_;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::shared_ptr<LakeTable>>> tables_;  // by URL
};

}  // namespace arrowport::lake
