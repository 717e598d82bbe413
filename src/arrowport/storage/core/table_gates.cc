#include "arrowport/storage/core/table_gates.h"

#include <algorithm>

#include "arrow/util/string.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::storage {

namespace {

// How often a waiter looks at its call's cancellation (an interrupt cannot reach a
// condition variable).
constexpr auto kCancellationPoll = std::chrono::milliseconds(50);

const char* UseName(TableUse use) {
  return use == TableUse::kWrite ? "write"
                                 : "change the shape of (create, replace, alter)";
}

}  // namespace

std::string TableGates::HoldersBesides(const Gate& gate, const void* owner) {
  constexpr int kShown = 3;
  std::string named;
  int others = 0;
  const auto now = Clock::now();
  for (const auto& [holder, holding] : gate.holders) {
    if (holder == owner) continue;
    if (++others > kShown) continue;
    named += others > 1 ? "; " : "";
    if (holding.name == nullptr) {
      named += "a request of this server";
      continue;
    }
    const auto open = std::chrono::duration_cast<std::chrono::seconds>(now - holding.name->since);
    named += holding.name->who + ", open " + std::to_string(open.count()) + " s";
  }
  if (others == 0) return "";
  if (others > kShown) named += "; and " + std::to_string(others - kShown) + " more";
  return " (held by " + named + ")";
}

bool TableGates::Admits(const Gate& gate, const void* owner, TableUse use) {
  auto own = gate.holders.find(owner);
  const bool holds = own != gate.holders.end();
  if (use == TableUse::kWrite) {
    if (holds) return true;  // already in: a reshape of its own or another write
    // Nobody reshapes, and no reshape waits (it would be starved by a stream of writers).
    for (const auto& [holder, holding] : gate.holders) {
      if (holding.reshapes > 0) return false;
    }
    return gate.reshape_waiting == 0;
  }
  if (holds && own->second.reshapes > 0) return true;
  return gate.holders.size() == (holds ? 1u : 0u);  // alone, or about to be
}

arrow::Result<TableGates::Pass> TableGates::Enter(
    const std::string& table, TableUse use, const void* owner, Clock::time_point deadline,
    const std::shared_ptr<CallCancellation>& cancellation,
    std::shared_ptr<const TableHolder> name) {
  const std::string key = arrow::internal::AsciiToLower(table);
  std::unique_lock<std::mutex> lock(mutex_);
  auto& slot = gates_[key];
  if (!slot) slot = std::make_unique<Gate>();
  Gate& gate = *slot;
  if (!Admits(gate, owner, use)) {
    const bool upgrading = use == TableUse::kReshape && gate.holders.count(owner) > 0;
    if (upgrading && gate.upgrading > 0) {
      // Another holder waits to reshape too: each would wait for the other to leave.
      return RetryableConflict("table '", table, "': two transactions that both write it "
                               "asked to change its shape at once; this one is refused, "
                               "retry it");
    }
    ++gate.waiting;
    gate.reshape_waiting += use == TableUse::kReshape ? 1 : 0;
    gate.upgrading += upgrading ? 1 : 0;
    const auto started = Clock::now();
    arrow::Status refused;
    while (!Admits(gate, owner, use)) {
      if (cancellation && cancellation->cancelled()) {
        refused = cancellation->reason();
        break;
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        const double waited = std::chrono::duration<double>(now - started).count();
        refused = RetryableConflict(
            "table '", table, "' could not be held to ", UseName(use), " it: waited ",
            static_cast<int64_t>(waited), " s for ",
            use == TableUse::kWrite ? "a change of its shape (a request adding columns, "
                                      "creating or replacing it) to finish"
                                    : "the transactions writing it to finish",
            HoldersBesides(gate, owner), "; retry the request");
        break;
      }
      gate.changed.wait_until(lock, std::min(deadline, now + kCancellationPoll));
    }
    --gate.waiting;
    gate.reshape_waiting -= use == TableUse::kReshape ? 1 : 0;
    gate.upgrading -= upgrading ? 1 : 0;
    if (!refused.ok()) {
      // Writers held up by this reshape may go on; an unused gate goes.
      gate.changed.notify_all();
      if (gate.holders.empty() && gate.waiting == 0) gates_.erase(key);
      return refused;
    }
  }
  Holding& holding = gate.holders[owner];
  ++(use == TableUse::kWrite ? holding.writes : holding.reshapes);
  if (name != nullptr) holding.name = std::move(name);
  return Pass(shared_from_this(), key, owner, use);
}

void TableGates::Leave(const std::string& key, const void* owner, TableUse use) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = gates_.find(key);
  if (it == gates_.end()) return;
  Gate& gate = *it->second;
  auto holder = gate.holders.find(owner);
  if (holder == gate.holders.end()) return;
  Holding& holding = holder->second;
  --(use == TableUse::kWrite ? holding.writes : holding.reshapes);
  if (holding.writes > 0 || holding.reshapes > 0) {
    if (use == TableUse::kReshape && holding.reshapes == 0) gate.changed.notify_all();
    return;
  }
  gate.holders.erase(holder);
  if (gate.holders.empty() && gate.waiting == 0) {
    gates_.erase(it);
    return;
  }
  gate.changed.notify_all();
}

bool TableGates::HoldsUpOthers(const void* owner) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [key, gate] : gates_) {
    if (gate->waiting > 0 && gate->holders.count(owner) > 0) return true;
  }
  return false;
}

size_t TableGates::HolderCount(const std::string& table) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = gates_.find(arrow::internal::AsciiToLower(table));
  return it == gates_.end() ? 0 : it->second->holders.size();
}

TableGates::Pass& TableGates::Pass::operator=(Pass&& other) noexcept {
  if (this != &other) {
    Release();
    gates_ = std::move(other.gates_);
    key_ = std::move(other.key_);
    owner_ = other.owner_;
    use_ = other.use_;
    other.gates_.reset();
  }
  return *this;
}

void TableGates::Pass::Release() {
  if (!gates_) return;
  auto gates = std::move(gates_);
  gates_.reset();
  gates->Leave(key_, owner_, use_);
}

}  // namespace arrowport::storage
