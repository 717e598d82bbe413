#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace arrowport::storage {

/// Ceiling of the default DuckDB memory limit. DuckDB's own default is 80% of RAM, and
/// its buffer pool keeps what it is allowed to: with 16 threads a 4 GB ingest peaked at
/// ~980 MiB RSS on that default and 830-870 MiB at 1 GiB, which keeps the server inside its
/// 1 GiB contract (design section 10). Queries that need more spill to <db>.tmp;
/// duckdb.memory_limit raises it for query-heavy servers.
constexpr int64_t kMaxDefaultMemoryLimit = int64_t{1} << 30;
/// Floor, so that a tiny container still leaves DuckDB a few blocks per thread.
constexpr int64_t kMinDefaultMemoryLimit = int64_t{128} << 20;

/// Physical RAM (sysconf), or nullopt when unknown.
std::optional<int64_t> PhysicalMemoryBytes();

/// The memory cgroup's limit for this process (v2 memory.max, v1 memory.limit_in_bytes),
/// or nullopt when there is none or it cannot be read.
std::optional<int64_t> CgroupMemoryLimitBytes();

/// \brief min(25% of RAM, 50% of the cgroup limit, kMaxDefaultMemoryLimit), at least
/// kMinDefaultMemoryLimit: the memory limit a file database gets when none is configured.
/// Half the cgroup limit, not all of it: Arrow buffers, gRPC and HTTP live outside it.
int64_t DefaultMemoryLimitBytes(std::optional<int64_t> physical,
                                std::optional<int64_t> cgroup);
int64_t DefaultMemoryLimitBytes();

/// \brief The default of limits.max_query_memory (what DuckDB may allocate outside its
/// buffer pool, for every query together): half the memory limit, 256 MiB to 4 GiB.
int64_t DefaultQueryMemoryBytes(int64_t memory_limit_bytes);

/// \brief The default of limits.max_request_memory (every call's buffers together): a
/// quarter of RAM (or of the cgroup limit, when lower), 512 MiB to 8 GiB.
int64_t DefaultRequestMemoryBytes();

/// `bytes` in DuckDB's memory_limit syntax ("1024MiB").
std::string MemoryLimitSetting(int64_t bytes);

}  // namespace arrowport::storage
