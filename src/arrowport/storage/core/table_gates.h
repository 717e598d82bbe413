#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "arrow/result.h"

namespace arrowport {
class CallCancellation;
}

namespace arrowport::storage {

/// \brief The longest a connection waits to hold a table (Connection::Hold): a write
/// waiting for a change of the table's shape to commit, or a change of shape waiting for
/// the transactions writing the table to end. Then a retryable conflict.
inline constexpr std::chrono::seconds kTableWaitLimit{60};

/// How a transaction uses a table, for TableGates.
enum class TableUse {
  kWrite,    ///< rows added, changed or deleted: beside other writers
  kReshape,  ///< created, replaced, altered or dropped: alone
};

/// A table a statement writes or reshapes, by name as written (TableGates keys by name).
/// A temporary table is its connection's alone, so no other transaction can race it: it
/// holds no gate (a session's temporary `t` held main `t`'s gate for its transaction).
struct HeldTable {
  std::string name;
  TableUse use = TableUse::kWrite;
  std::string catalog;  ///< as written ("" when not)
  std::string schema;   ///< as written ("" when not)
  /// Made by the statement (CREATE): `temporary` says whether as TEMP. Otherwise whether
  /// the name resolves to a temporary table is looked up when it is held; a prepared
  /// statement's plan keeps what it was bound to (DuckDB rebinds it only when those
  /// tables change), so it is also asked when it was prepared: temporary both times.
  bool created = false;
  bool temporary = false;
  bool temporary_when_prepared = true;
};

/// Who holds a table, for the error of a caller that waited for it in vain: "a Flight SQL
/// transaction of user 'ana'" and since when. Immutable.
struct TableHolder {
  std::string who;
  std::chrono::steady_clock::time_point since;
};

/// \brief Keeps the transactions that change a table's shape apart from those that write
/// its rows. DuckDB's ALTER TABLE builds the new table over the old one's column data
/// (shared, not copied) and relies on the old one never changing again; a concurrent
/// writer whose commit fails on the ALTER reverts into that shared data, after which
/// both versions append to and truncate the same columns: acknowledged rows vanish or
/// come back torn, and the next checkpoint invalidates the database ("Corrupted
/// in-memory column"). tests/duckdb_repro/alter_append_race.cc shows it with plain SQL
/// against DuckDB alone.
///
/// One gate per table name (case-insensitive; tables of the same name in other schemas
/// share it, which only makes them wait for each other; a temporary table has none,
/// HeldTable). Writers share a gate; a reshape
/// holds it alone, and a reshape that waits holds up new writers so that a steady stream
/// of appends cannot starve it. Holds belong to an owner (a connection): an owner that
/// holds a gate enters it again at once, and a lone writer upgrades to reshape. Waits end
/// at a deadline or when the call is cancelled. The map holds only gates in use.
/// Made with std::make_shared (a pass keeps the gates alive). Thread-safe.
class TableGates : public std::enable_shared_from_this<TableGates> {
 public:
  using Clock = std::chrono::steady_clock;
  class Pass;

  /// \brief Enters `table`'s gate for `use` as `owner`, waiting for the holds of other
  /// owners that exclude it until `deadline` or until `cancellation` (may be null) is
  /// cancelled: then a retryable conflict naming the table, or the cancellation's reason.
  /// An owner that holds the gate as a writer and asks to reshape while another holder
  /// asks the same is refused at once (each would wait for the other). `name` (may be
  /// null) says who the owner is to those that wait for it in vain.
  arrow::Result<Pass> Enter(const std::string& table, TableUse use, const void* owner,
                            Clock::time_point deadline,
                            const std::shared_ptr<CallCancellation>& cancellation,
                            std::shared_ptr<const TableHolder> name = nullptr);

  /// Owners holding `table`'s gate now (tests and diagnostics).
  size_t HolderCount(const std::string& table);
  /// True while another caller waits in Enter for a gate `owner` holds: an idle
  /// transaction holding it up is worth ending (flight.sql_held_transaction_timeout_s).
  bool HoldsUpOthers(const void* owner);

 private:
  struct Holding {
    int writes = 0;
    int reshapes = 0;
    std::shared_ptr<const TableHolder> name;  // the latest the owner gave (may be null)
  };
  struct Gate {
    std::map<const void*, Holding> holders;
    int waiting = 0;          // callers waiting in Enter (they keep the gate alive)
    int reshape_waiting = 0;  // of them, reshapes (new writers wait behind them)
    int upgrading = 0;        // of those, owners that hold the gate as writers
    std::condition_variable changed;
  };

  void Leave(const std::string& key, const void* owner, TableUse use);
  // Whether `owner` may take `use` of `gate` now (mutex_ held).
  static bool Admits(const Gate& gate, const void* owner, TableUse use);
  // Who holds `gate` but `owner`, for the error of a wait that timed out (mutex_ held).
  static std::string HoldersBesides(const Gate& gate, const void* owner);

  std::mutex mutex_;  // guards gates_ and every Gate
  std::map<std::string, std::unique_ptr<Gate>> gates_;
};

/// \brief One use of one table's gate by one owner, from TableGates::Enter until it is
/// destroyed or Release()d. An empty pass (default-made) holds nothing. Move-only.
class TableGates::Pass {
 public:
  Pass() = default;
  Pass(Pass&& other) noexcept { *this = std::move(other); }
  Pass& operator=(Pass&& other) noexcept;
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;
  ~Pass() { Release(); }

  explicit operator bool() const { return gates_ != nullptr; }
  TableUse use() const { return use_; }
  /// Leaves the gate now (the destructor does the same).
  void Release();

 private:
  friend class TableGates;
  Pass(std::shared_ptr<TableGates> gates, std::string key, const void* owner,
       TableUse use)
      : gates_(std::move(gates)), key_(std::move(key)), owner_(owner), use_(use) {}

  std::shared_ptr<TableGates> gates_;
  std::string key_;
  const void* owner_ = nullptr;
  TableUse use_ = TableUse::kWrite;
};

/// A table held for a use by a connection (Connection::Hold).
using TablePass = TableGates::Pass;

}  // namespace arrowport::storage
