#pragma once

// Internal to storage (the SQL sandbox): what one parsed statement does, read off DuckDB's
// parse tree before anything is bound. Includes DuckDB's C++ parser headers.

#include <duckdb/parser/qualified_name.hpp>
#include <duckdb/parser/query_node.hpp>
#include <duckdb/parser/sql_statement.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "arrowport/storage/core/table_gates.h"

namespace arrowport::storage {

/// One catalog entry a statement names, as written (parts left out are empty).
struct NamedEntry {
  std::string catalog;
  std::string schema;
  std::string name;
  bool is_schema = false;  ///< the entry is a schema (CREATE/DROP/ALTER SCHEMA `name`)
  /// Created, altered or dropped (CREATE, ALTER, DROP, CREATE INDEX's table), not a
  /// change of its rows: held alone while the statement's transaction runs (TableGates).
  bool reshaped = false;
  /// Made by the statement (CREATE's own target), and whether as a temporary one.
  bool created = false;
  bool temporary = false;
  /// Named by SHOW/DESCRIBE/SUMMARIZE, where a name that is no table is a setting.
  bool shown = false;
  /// Read in the recursive part of a WITH RECURSIVE (directly, or through a CTE not
  /// declared AS MATERIALIZED), which DuckDB runs again at each step: scanned again.
  bool rescanned = false;
  /// The name as DuckDB parsed it (what a catalog lookup takes).
  duckdb::QualifiedName qualified;

  /// catalog.schema.name with the parts that are set.
  std::string ToString() const;
};

/// One function a statement calls.
struct FunctionCall {
  std::string name;            ///< lower-case, as written (without schema)
  duckdb::QualifiedName qualified;  ///< as written, for a catalog lookup
  bool table = false;          ///< in a FROM clause (a table function), else scalar
  bool has_parameter = false;  ///< an argument depends on a query parameter ($1, ?)
  /// The arguments that are constants, as DuckDB's parser read them (nullopt: not one).
  std::vector<std::optional<std::string>> constants;
};

/// \brief What a statement reads and calls, everywhere in it: the select list, FROM,
/// joins, subqueries in any expression, CTEs, set operations, ORDER BY/LIMIT, VALUES,
/// PIVOT, table function arguments, DESCRIBE/SUMMARIZE's query, the reads of INSERT
/// (its SELECT, RETURNING, ON CONFLICT), UPDATE, DELETE and MERGE, CREATE TABLE/VIEW ... AS,
/// CREATE TYPE ... AS ENUM (query), column DEFAULT, generated and CHECK expressions (in
/// CREATE TABLE and ALTER TABLE), COPY's query and EXPLAIN's statement.
///
/// CTE names are scoped as DuckDB binds them: a CTE's own name is not in scope in its
/// body (there it names the catalog's table), except in the recursive part of a
/// WITH RECURSIVE ... UNION; later CTEs and the main query see it.
struct StatementReads {
  /// Base tables and views named (CTE names in scope are not tables and are left out).
  std::vector<NamedEntry> tables;
  /// The targets of every INSERT, UPDATE, DELETE and MERGE anywhere in the statement,
  /// data-changing CTEs (WITH d AS (DELETE ... RETURNING *) SELECT ...) included.
  std::vector<NamedEntry> writes;
  std::vector<FunctionCall> functions;
  /// SHOW TABLES / SHOW ALL TABLES and the like: what is listed ("tables", ...).
  std::vector<std::string> listings;
  /// A VARIANT is made: a cast to a type that names it, a column or type defined with it,
  /// or a function that makes one (variant_bytes_to_variant, stats, variant_group_*). DuckDB's conversions of a variant recurse per level: a
  /// value made from deep JSON crashed the server at its first read (VariantRefused).
  bool makes_variant = false;
  /// The statement holds a recursive CTE: a VARIANT read anywhere in it could be nested
  /// one level deeper at each step (DuckDB makes a list of variants a variant unasked).
  bool recursive = false;
  /// A construct the walker does not know, so cannot vouch for ("" when none).
  std::string unknown;
};

/// Whether `type` names DuckDB's VARIANT at any depth (bound, or as parsed).
bool NamesVariant(const duckdb::LogicalType& type);
bool NamesVariant(const duckdb::ParsedExpression& type_expression);

/// Walks `statement` (and any nested statement) for what it reads and calls.
StatementReads ReadsOf(const duckdb::SQLStatement& statement);
/// Walks one query node (a view's query) the same way.
StatementReads ReadsOf(const duckdb::QueryNode& node);
/// Walks one expression (a macro's body) the same way.
StatementReads ReadsOf(const duckdb::ParsedExpression& expression);

/// \brief The entries that `statement` writes (INSERT, UPDATE, DELETE, MERGE target, COPY
/// FROM target, EXPLAIN's statement) or creates, alters, drops (CREATE, ALTER incl. COMMENT
/// ON, DROP, CREATE INDEX's table). Statements that write nothing give an empty list.
/// Invalid when a DML target is not a plain table.
std::optional<std::vector<NamedEntry>> WritesOf(const duckdb::SQLStatement& statement);

/// \brief The tables to hold (TableGates) while `statement` runs: what WritesOf names
/// (reshaped when created, altered or dropped) and the targets of nested writes in
/// `reads` (ReadsOf of the same statement); schemas and the server's own state are left
/// out (the sandbox refuses the latter).
std::vector<HeldTable> HeldTables(const duckdb::SQLStatement& statement,
                                  const StatementReads& reads);

/// The parts of a parsed qualified name.
NamedEntry EntryOf(const duckdb::QualifiedName& name);

}  // namespace arrowport::storage
