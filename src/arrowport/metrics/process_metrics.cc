#include "arrowport/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "arrowport/common/cached_reading.h"
#include "arrowport/metrics/registry.h"

namespace arrowport::metrics {

namespace {

int64_t CountOpenDescriptors() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

// Seconds since the epoch at which the machine booted (/proc/stat "btime").
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double btime = 0;
      in >> btime;
      return btime;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats stats;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (std::getline(in, line)) {
    // The command name (field 2) is in parentheses and may hold spaces: fields are counted
    // from the last ')'.
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields(line.substr(close + 2));
      std::vector<std::string> f;
      std::string field;
      while (fields >> field) f.push_back(field);
      // f[0] is field 3 (state): field N is f[N - 3].
      if (f.size() > 21) {
        const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
        const int64_t page = ::sysconf(_SC_PAGESIZE);
        stats.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
        stats.threads = std::stoll(f[17]);
        static const double boot_time = BootTime();  // fixed until the machine reboots
        stats.start_time_seconds = boot_time + std::stod(f[19]) / ticks;
        stats.virtual_bytes = std::stoll(f[20]);
        stats.resident_bytes = std::stoll(f[21]) * page;
      }
    }
  }
  stats.open_fds = CountOpenDescriptors();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    stats.max_fds = static_cast<int64_t>(limit.rlim_cur);
  }
  return stats;
}

void AddProcessMetrics(Registry* registry) {
  struct Figure {
    const char* name;
    const char* help;
    MetricType type;
    double (*read)(const ProcessStats&);
  };
  static const Figure kFigures[] = {
      {"process_resident_memory_bytes", "Resident memory size in bytes", MetricType::kGauge,
       [](const ProcessStats& s) { return static_cast<double>(s.resident_bytes); }},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes", MetricType::kGauge,
       [](const ProcessStats& s) { return static_cast<double>(s.virtual_bytes); }},
      {"process_cpu_seconds_total", "User and system CPU time spent in seconds",
       MetricType::kCounter, [](const ProcessStats& s) { return s.cpu_seconds; }},
      {"process_threads", "Threads of the process", MetricType::kGauge,
       [](const ProcessStats& s) { return static_cast<double>(s.threads); }},
      {"process_open_fds", "Open file descriptors", MetricType::kGauge,
       [](const ProcessStats& s) { return static_cast<double>(s.open_fds); }},
      {"process_max_fds", "Maximum number of open file descriptors", MetricType::kGauge,
       [](const ProcessStats& s) { return static_cast<double>(s.max_fds); }},
      {"process_start_time_seconds", "Start time of the process since the Unix epoch",
       MetricType::kGauge, [](const ProcessStats& s) { return s.start_time_seconds; }},
  };
  // One reading of /proc serves every family of a scrape.
  auto reading = std::make_shared<CachedReading<ProcessStats>>(std::chrono::seconds(1),
                                                                ReadProcessStats);
  for (const auto& figure : kFigures) {
    registry->AddCallback(figure.name, figure.help, figure.type, {}, [&figure, reading] {
      return std::vector<Sample>{{{}, figure.read(reading->Get())}};
    });
  }
}

}  // namespace arrowport::metrics
