#include "arrowport/storage/database/database_sql.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "arrow/array.h"
#include "arrow/table.h"

#include "arrowport/common/identifier.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/files/view_file_system.h"

namespace arrowport::storage {

namespace {

// DuckDB's reader for a file or glob, by its extension (Parquet when it has none).
const char* ReaderFor(const std::string& location) {
  auto ends_with = [&](const std::string& suffix) {
    return location.size() >= suffix.size() &&
           location.compare(location.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".csv") || ends_with(".csv.gz") || ends_with(".tsv")) return "read_csv";
  if (ends_with(".json") || ends_with(".jsonl") || ends_with(".ndjson")) {
    return "read_json";
  }
  return "read_parquet";
}

arrow::Status CreateFileView(Connection* conn, const std::string& name,
                             const std::vector<std::string>& locations, bool gated) {
  const char* reader = ReaderFor(locations.front());
  for (const auto& location : locations) {
    if (std::string(ReaderFor(location)) != reader) {
      return arrow::Status::Invalid("the files of one view must be of one format: '",
                                    locations.front(), "' is read with ", reader, ", '",
                                    location, "' with ", ReaderFor(location));
    }
  }
  auto path = [gated](const std::string& location) {
    return QuoteLiteral(gated ? ViewPathOf(location) : location);
  };
  // One location keeps DuckDB's plain form; several are a list (one scan, one schema).
  std::string argument = path(locations.front());
  if (locations.size() > 1) {
    argument = "[";
    for (const auto& location : locations) {
      argument += (argument.size() > 1 ? ", " : "") + path(location);
    }
    argument += "]";
  }
  return conn->Execute("CREATE OR REPLACE VIEW " + QuoteIdentifier(name) +
                       " AS SELECT * FROM " + reader + "(" + argument + ")");
}

// Reads SQL text as CreateFileView writes it, token by token (blanks between them).
class SqlCursor {
 public:
  explicit SqlCursor(std::string_view text) : text_(text) {}

  // Takes `word` (any case) when it comes next.
  bool Take(std::string_view word) {
    SkipBlanks();
    if (text_.size() - at_ < word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(text_[at_ + i])) !=
          std::tolower(static_cast<unsigned char>(word[i]))) {
        return false;
      }
    }
    at_ += word.size();
    return true;
  }
  // A name, maybe qualified: parts "quoted" ("" inside) or runs up to a blank or '.'.
  bool TakeName() {
    SkipBlanks();
    do {
      if (at_ < text_.size() && text_[at_] == '"') {
        if (!TakeQuoted('"')) return false;
        continue;
      }
      const size_t start = at_;
      while (at_ < text_.size() && !std::isspace(static_cast<unsigned char>(text_[at_])) &&
             text_[at_] != '(' && text_[at_] != '"' && text_[at_] != '.') {
        ++at_;
      }
      if (at_ == start) return false;
    } while (at_ < text_.size() && text_[at_] == '.' && ++at_);
    return true;
  }
  // A string literal of a view file system path.
  bool TakeViewPath() {
    SkipBlanks();
    return text_.substr(at_).starts_with(std::string("'") + kViewPathPrefix) &&
           TakeQuoted('\'');
  }
  // Nothing but blanks (and one ';') left.
  bool AtEnd() {
    Take(";");
    SkipBlanks();
    return at_ == text_.size();
  }

 private:
  void SkipBlanks() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  // From the opening `quote` to its closing one (doubled inside).
  bool TakeQuoted(char quote) {
    for (size_t i = at_ + 1; i < text_.size(); ++i) {
      if (text_[i] != quote) continue;
      if (i + 1 < text_.size() && text_[i + 1] == quote) {
        ++i;
        continue;
      }
      at_ = i + 1;
      return true;
    }
    return false;
  }

  std::string_view text_;
  size_t at_ = 0;
};

// Whether `sql` (a view's, as duckdb_views() gives it) is the form CreateFileView makes:
// all of it one scan of view file system paths (which user SQL may not read: the SQL
// sandbox refuses them), nothing else.
bool IsFileViewSql(std::string_view sql) {
  SqlCursor cursor(sql);
  if (!cursor.Take("CREATE")) return false;
  if (cursor.Take("OR") && !cursor.Take("REPLACE")) return false;
  if (!cursor.Take("VIEW") || !cursor.TakeName() || !cursor.Take("AS") ||
      !cursor.Take("SELECT") || !cursor.Take("*") || !cursor.Take("FROM") ||
      !(cursor.Take("read_parquet(") || cursor.Take("read_csv(") ||
        cursor.Take("read_json("))) {
    return false;
  }
  // Several paths are a list, which DuckDB writes back as list_value(...).
  const char* list_end = cursor.Take("[") ? "]" : cursor.Take("list_value(") ? ")" : nullptr;
  if (list_end != nullptr) {
    do {
      if (!cursor.TakeViewPath()) return false;
    } while (cursor.Take(","));
    if (!cursor.Take(list_end)) return false;
  } else if (!cursor.TakeViewPath()) {
    return false;
  }
  return cursor.Take(")") && cursor.AtEnd();
}

}  // namespace

arrow::Status CreateFileViews(
    Connection* conn, const std::vector<std::pair<std::string, std::string>>& file_views,
    bool gated) {
  std::vector<std::pair<std::string, std::vector<std::string>>> views;  // in given order
  for (const auto& [name, location] : file_views) {
    auto same = std::find_if(views.begin(), views.end(),
                             [&name = name](const auto& view) { return view.first == name; });
    if (same == views.end()) {
      views.push_back({name, {location}});
    } else {
      same->second.push_back(location);
    }
  }
  for (const auto& [name, locations] : views) {
    auto st = CreateFileView(conn, name, locations, gated);
    if (st.ok()) continue;
    std::string quoted;
    for (const auto& location : locations) {
      quoted += (quoted.empty() ? "'" : ", '") + location + "'";
    }
    return st.WithMessage("views.", name, " (", quoted, "): ", st.message());
  }
  return arrow::Status::OK();
}

arrow::Result<std::vector<std::string>> DropUnconfiguredFileViews(
    Connection* conn,
    const std::vector<std::pair<std::string, std::string>>& file_views) {
  // Names as DuckDB compares them: without regard to case.
  auto lower = [](std::string name) {
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return name;
  };
  const std::string prefix = QuoteLiteral(std::string("'") + kViewPathPrefix);
  ARROW_ASSIGN_OR_RAISE(
      auto views,
      conn->QueryTable("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND "
                       "database_name = current_database() AND schema_name = 'main' AND "
                       "contains(sql, " + prefix + ")"));
  ARROW_ASSIGN_OR_RAISE(views, views->CombineChunks());
  std::vector<std::string> dropped;
  if (views->num_rows() == 0) return dropped;
  const auto& names = static_cast<const arrow::StringArray&>(*views->column(0)->chunk(0));
  const auto& sqls = static_cast<const arrow::StringArray&>(*views->column(1)->chunk(0));
  for (int64_t i = 0; i < names.length(); ++i) {
    const std::string name(names.GetView(i));
    // Only a view of the form CreateFileView makes: a user's view that merely mentions
    // the prefix (a string literal, a comment) is the user's.
    if (!IsFileViewSql(sqls.GetView(i))) continue;
    const bool configured =
        std::any_of(file_views.begin(), file_views.end(),
                    [&](const auto& view) { return lower(view.first) == lower(name); });
    if (configured) continue;
    ARROW_RETURN_NOT_OK(
        conn->Execute("DROP VIEW IF EXISTS main." + QuoteIdentifier(name)));
    dropped.push_back(name);
  }
  return dropped;
}

std::string LoadExtensionSql(const std::string& name) {
  return "LOAD " + QuoteIdentifier(name);
}

}  // namespace arrowport::storage
