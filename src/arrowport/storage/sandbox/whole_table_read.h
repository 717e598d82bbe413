#pragma once

// Internal to storage: which client SELECTs read one base table whole, and which table.

#include <cstdint>
#include <optional>

namespace duckdb {
class ClientContext;
class SQLStatement;
}  // namespace duckdb

namespace arrowport::storage {

struct StatementReads;

/// Which base table a read is of, as one snapshot resolves its name: DuckDB's oids of the
/// table's catalog and of its entry. A name can come to mean another table with no change
/// to that table's catalog (a temporary table of the same name made since): what is kept
/// for a text is kept for one table (TableReadPlans).
struct TableIdentity {
  uint64_t catalog_oid = 0;
  uint64_t table_oid = 0;
  bool operator==(const TableIdentity& other) const {
    return catalog_oid == other.catalog_oid && table_oid == other.table_oid;
  }
};

/// \brief The table `statement` reads whole, when it is `SELECT * FROM table` of one base
/// table without generated columns, with at most a LIMIT and an OFFSET written as
/// numbers: a table ticket's SQL and most small reads. Such a statement calls no
/// function, changes nothing, has no parameters and returns rows, and once its name is a
/// table it binds: the SQL sandbox leaves its bind out (0.49 M instructions, a fifth of a
/// 1,000-row DoGet's CPU), and DuckDB plans it without its optimizer, which could only
/// leave it as it is (Planning::kTableAtRun). A generated column runs its expression as the table is
/// read (setseed() there would reseed the reading connection): such a table is not read
/// whole. The name is looked up in `context`'s open transaction (nullopt without one);
/// `reads` is ReadsOf(statement).
std::optional<TableIdentity> WholeTableRead(duckdb::ClientContext& context,
                                            const duckdb::SQLStatement& statement,
                                            const StatementReads& reads);

}  // namespace arrowport::storage
