// LakeService's reads in parts (lake_service.h: Layout, PartSql): a lake table's files
// split into groups of about equal size, one Flight endpoint each.
#include <algorithm>

#include "arrowport/query/lake_service.h"
#include "arrowport/query/lake_view_sql.h"

namespace arrowport::query {

namespace {

// Parts at most when a lake table is read in parts.
constexpr int kMaxParts = 16;

// How many parts a snapshot's files make, of `part_bytes` at least each (small tables
// stay one endpoint).
int PartsOf(const lake::Snapshot& snapshot, int64_t part_bytes) {
  int64_t bytes = 0;
  for (const auto& [path, add] : snapshot.files) bytes += add.size;
  const int64_t by_size = std::max<int64_t>(1, bytes / std::max<int64_t>(part_bytes, 1));
  const int64_t files = std::max<int64_t>(1, static_cast<int64_t>(snapshot.files.size()));
  return static_cast<int>(std::min<int64_t>({by_size, kMaxParts, files}));
}

// The files of part `part` of `parts`: files in path order, each to the lightest part so
// far (the same split for every call on one snapshot).
std::vector<const lake::AddFile*> FilesOfPart(const lake::Snapshot& snapshot, int part,
                                              int parts) {
  std::vector<int64_t> load(static_cast<size_t>(parts), 0);
  std::vector<const lake::AddFile*> mine;
  for (const auto& [path, add] : snapshot.files) {
    const auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    load[lightest] += std::max<int64_t>(add.size, 1);
    if (lightest == part) mine.push_back(&add);
  }
  return mine;
}

}  // namespace

std::optional<QueryRequest::LakePart> LakeService::Layout(const std::string& table) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [stream, published] : published_) {
    if (published.table != table || !published.snapshot) continue;
    if (published.state == kStateRefused) return std::nullopt;  // its view says why
    const int parts = PartsOf(*published.snapshot, part_bytes_);
    if (parts < 2 && !every_table_in_parts_) return std::nullopt;
    QueryRequest::LakePart layout{published.version, 0, parts};
    layout.table_id = published.snapshot->metadata.id;
    return layout;
  }
  return std::nullopt;
}

arrow::Result<std::string> LakeService::PartSql(const std::string& table,
                                                const QueryRequest::LakePart& part) {
  std::string store, url;
  std::shared_ptr<lake::LakeTable> lake_table;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, published] : published_) {
      if (published.table == table && published.lake) {
        if (published.state == kStateRefused) return published.refusal;
        store = published.store;
        url = published.url;
        lake_table = published.lake;
      }
    }
  }
  if (!lake_table) return arrow::Status::KeyError("'", table, "' is not a lake table");
  auto snapshot = lake_table->At(part.version);
  const auto cached = lake_table->Cached();
  // (Older than what this node has read and no longer kept: refused as it is, without
  // waiting for the view's replacement.)
  const bool ahead = !cached || cached->version < part.version;
  if (!snapshot.ok() && part.from_cluster && ahead) {
    // Another node's ticket may name a snapshot this node has not read yet: read, kept,
    // and its files served beside the view's (as a replacement of the view would).
    ARROW_ASSIGN_OR_RAISE(auto replacing, ReplacingLock(url));
    ARROW_ASSIGN_OR_RAISE(snapshot, lake_table->Reach(part.version));
    storage::LakeServed served;
    for (const auto& kept : lake_table->Kept()) AddServed(*kept, &served);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [name, published] : published_) {
        if (published.url == url && published.snapshot) AddServed(*published.snapshot, &served);
      }
    }
    stores_.Register(store, lake_table->shared_store(), served);
  }
  ARROW_RETURN_NOT_OK(snapshot);
  if (!part.table_id.empty() && part.table_id != (*snapshot)->metadata.id) {
    return arrow::Status::Invalid(
        "the ticket is of another table than '", table, "' here (table id ", part.table_id,
        ", this node's is ", (*snapshot)->metadata.id,
        "): the nodes' configs route the name to different tables; make them agree");
  }
  // A node's sealed ticket is trusted for its split (every node splits a snapshot alike
  // for a number of parts), however this node's lake.read_part_mb differs.
  if (!part.from_cluster && part.parts != PartsOf(**snapshot, part_bytes_)) {
    return arrow::Status::Invalid("the ticket's parts do not match version ", part.version,
                                  " of '", table, "': ask for the table again");
  }
  return LakeSelectSql(stores_, store, **snapshot,
                       FilesOfPart(**snapshot, part.part, part.parts),
                       /*with_inlined_rows=*/part.part == 0);
}

}  // namespace arrowport::query
