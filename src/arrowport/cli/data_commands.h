#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace arrowport::cli {

/// The commands that move data through a server or into a file; each returns the
/// process's exit code (exit_status.h) and prints its own error.

/// `arrowport ingest`: uploads each file (Arrow IPC, Parquet, CSV, JSON lines) to `stream`,
/// sealed, and prints the server's summary of what it committed.
int Ingest(const std::vector<std::string>& files, const std::string& stream,
           const std::string& table, const std::string& mode, const std::string& commit,
           const std::string& server_url, const std::string& tls_ca, int64_t batch_rows,
           double connect_wait);

/// `arrowport query`: runs `sql` and writes its result as `format_name` (default: a table
/// on stdout, or the output file's extension) to `output` or stdout.
int Query(const std::string& sql, const std::string& format_name, const std::string& output,
          const std::string& server_url, const std::string& tls_ca, double connect_wait);

/// `arrowport generate`: writes `rows` rows of sample data to `output`.
int Generate(int64_t rows, const std::string& output, int64_t batch_rows, uint64_t seed,
             const std::string& preset_name);

}  // namespace arrowport::cli
