#include "arrowport/storage/memory/memory_limit.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

namespace arrowport::storage {

namespace {

// A cgroup file holds one number, or "max" (v2) / a near-INT64_MAX value (v1) when
// unlimited; both mean "no limit" here.
std::optional<int64_t> ReadLimit(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value <= 0) return std::nullopt;
  if (value >= (int64_t{1} << 60)) return std::nullopt;
  return value;
}

}  // namespace

std::optional<int64_t> PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return std::nullopt;
  return static_cast<int64_t>(pages) * page_size;
}

std::optional<int64_t> CgroupMemoryLimitBytes() {
  // /proc/self/cgroup: "0::/path" (v2) or "N:memory:/path" (v1). Inside a container the
  // path is usually "/" and the files sit at the mount root; check both places.
  std::vector<std::string> candidates;
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      candidates.push_back("/sys/fs/cgroup" + path + "/memory.max");
    } else if (controllers == "memory" || controllers.find("memory,") == 0 ||
               controllers.find(",memory") != std::string::npos) {
      candidates.push_back("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes");
    }
  }
  candidates.push_back("/sys/fs/cgroup/memory.max");
  candidates.push_back("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  std::optional<int64_t> limit;
  for (const auto& path : candidates) {
    if (auto value = ReadLimit(path)) limit = limit ? std::min(*limit, *value) : *value;
  }
  return limit;
}

int64_t DefaultMemoryLimitBytes(std::optional<int64_t> physical,
                                std::optional<int64_t> cgroup) {
  int64_t limit = kMaxDefaultMemoryLimit;
  if (physical) limit = std::min(limit, *physical / 4);
  if (cgroup) limit = std::min(limit, *cgroup / 2);
  return std::max(limit, kMinDefaultMemoryLimit);
}

int64_t DefaultMemoryLimitBytes() {
  return DefaultMemoryLimitBytes(PhysicalMemoryBytes(), CgroupMemoryLimitBytes());
}

int64_t DefaultQueryMemoryBytes(int64_t memory_limit_bytes) {
  return std::clamp<int64_t>(memory_limit_bytes / 2, int64_t{256} << 20, int64_t{4} << 30);
}

int64_t DefaultRequestMemoryBytes() {
  int64_t total = PhysicalMemoryBytes().value_or(int64_t{4} << 30);
  if (auto cgroup = CgroupMemoryLimitBytes()) total = std::min(total, *cgroup);
  return std::clamp<int64_t>(total / 4, int64_t{512} << 20, int64_t{8} << 30);
}

std::string MemoryLimitSetting(int64_t bytes) {
  return std::to_string(std::max<int64_t>(bytes >> 20, 1)) + "MiB";
}

}  // namespace arrowport::storage
