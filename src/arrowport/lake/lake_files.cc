#include "arrowport/lake/lake_files.h"

#include <sys/random.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "arrow/compute/initialize.h"
#include "arrow/type.h"

namespace arrowport::lake {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NewUuid() {
  // Every id from the kernel's generator: two nodes never draw the same file name or
  // commit id (a seeded PRNG per thread could repeat another's sequence).
  unsigned char bytes[16];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (n > 0) filled += static_cast<size_t>(n);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // variant 1
  char text[37];
  std::snprintf(text, sizeof(text),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14],
                bytes[15]);
  return text;
}

arrow::Status EnsureComputeKernels() {
  static std::once_flag once;
  static arrow::Status status;
  std::call_once(once, [] { status = arrow::compute::Initialize(); });
  return status;
}

std::string NewDataFileKey(const std::string& folder, const std::string& compression) {
  return folder + "part-00000-" + NewUuid() + ".c000." +
         (compression == "none" ? std::string() : compression + ".") + "parquet";
}

std::shared_ptr<arrow::Schema> FileSchemaOf(const arrow::Schema& table,
                                            const std::vector<std::string>& partition_columns) {
  arrow::FieldVector fields;
  for (const auto& field : table.fields()) {
    bool partition = false;
    for (const auto& column : partition_columns) partition |= column == field->name();
    if (!partition) fields.push_back(field);
  }
  return arrow::schema(std::move(fields));
}

std::string PercentEncode(const std::string& text, const char* safe) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || (c != 0 && std::strchr(safe, c) != nullptr)) {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string FormatDate(int64_t days) {
  std::time_t seconds = static_cast<std::time_t>(days) * 86400;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[24];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday);
  return text;
}

std::string FormatTimestamp(int64_t micros, TimestampText style, bool utc) {
  const bool stats = style == TimestampText::kStatsMin || style == TimestampText::kStatsMax;
  const int64_t unit = stats ? 1000 : 1;  // stats: milliseconds
  int64_t ticks = micros / unit;
  if (micros % unit != 0 && micros < 0) ticks -= 1;  // floor
  if (style == TimestampText::kStatsMax && micros % unit != 0) ticks += 1;
  const int64_t per_second = 1000000 / unit;
  int64_t seconds = ticks / per_second, fraction = ticks % per_second;
  if (fraction < 0) {
    fraction += per_second;
    seconds -= 1;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const char separator = style == TimestampText::kPartitionNtz ? ' ' : 'T';
  const char* zone = style == TimestampText::kPartitionNtz ? "" : (utc ? "Z" : "");
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02d%c%02d:%02d:%02d.%0*lld%s",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, separator, tm.tm_hour,
                tm.tm_min, tm.tm_sec, stats ? 3 : 6, static_cast<long long>(fraction), zone);
  return text;
}

}  // namespace arrowport::lake
