#pragma once

// Seals of Arrowport's lake commits. A commit that records a request id (a Delta `txn`,
// a DuckLake snapshot's `commit_extra_info` marker) carries a seal: a keyed BLAKE2b over
// the request id, its txn version and counts, the table's identity (its id in the lake and
// where this server says it is) and the commit itself (a Delta commit's adds, a DuckLake
// commit's snapshot), keyed with a secret only
// Arrowport nodes hold (lake.commit_key_file, else a key the server keeps in its own
// database). A request id is answered as a duplicate only from a commit whose seal
// verifies: another writer of the lake (DuckDB's set_commit_message, delta-rs or Spark
// writing a `txn`) can copy a marker, not seal one.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "arrow/result.h"

namespace arrowport::lake {

/// What a seal binds. Every field goes into it, each length-prefixed.
struct SealedFacts {
  std::string format;     ///< "delta" or "ducklake"
  std::string table;      ///< the table's id: Delta metaData.id, DuckLake table_uuid
  /// Which table it is as the server's config names it, which no writer of the lake can
  /// change (a table's id can be: another table may be given it). Delta: the table's URL
  /// as its store names it (ObjectStore::url(), normalised); DuckLake: the configured
  /// data_path and schema.table (DuckLakeLocation).
  std::string location;
  int64_t snapshot = -1;  ///< DuckLake: the snapshot the commit made (Delta: -1)
  std::string app_id;     ///< "arrowport:<request id>"
  int64_t txn_version = -1;
  int64_t rows = -1;
  int64_t batches = -1;
  /// Delta: one entry per file the commit added (path, size, stats), in any order (sorted
  /// before they are sealed). DuckLake: none (the snapshot binds the commit; DuckDB's
  /// merges rewrite a snapshot's files in the catalog).
  std::vector<std::string> files;
};

/// \brief The secret lake commits are sealed with. Immutable, thread-safe.
class SealKey {
 public:
  /// Bytes a secret must have at least (lake.commit_key_file).
  static constexpr size_t kMinSecretBytes = 32;

  /// A key from a secret of at least kMinSecretBytes bytes (leading and trailing
  /// whitespace ignored; any text: hex, base64, raw). `what` names it in errors.
  static arrow::Result<std::shared_ptr<const SealKey>> FromSecret(
      std::string_view secret, const std::string& what);
  /// The key in the file `path` (lake.commit_key_file). Refused, naming the file and the
  /// fix: a file other users may read or write, one that is not a regular file, a secret
  /// shorter than kMinSecretBytes.
  static arrow::Result<std::shared_ptr<const SealKey>> FromFile(const std::string& path);
  /// A new random secret (64 hex digits), for a server that keeps its own.
  static std::string NewSecret();
  /// A key of a new random secret (tests, tools: it seals for this process alone).
  static std::shared_ptr<const SealKey> Random();

  /// The seal of `facts`: 64 hex digits.
  std::string Seal(const SealedFacts& facts) const;
  /// Whether `seal` is the seal of `facts` (compared in constant time).
  bool Verifies(const SealedFacts& facts, const std::string& seal) const;

 private:
  SealKey() = default;
  std::array<unsigned char, 32> key_{};
};

/// Whether `app_id` is one of Arrowport's request ids ("arrowport:<id>").
bool IsRequestAppId(const std::string& app_id);

}  // namespace arrowport::lake
