#include "arrowport/cli/generate.h"

#include <random>

#include "arrow/builder.h"
#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/type.h"

namespace arrowport::cli {

namespace {

class SampleReader : public arrow::RecordBatchReader {
 public:
  SampleReader(int64_t rows, int64_t batch_rows, uint64_t seed, SamplePreset preset)
      : rows_(rows), batch_rows_(std::max<int64_t>(batch_rows, 1)), rng_(seed) {
    const bool seed_names = preset == SamplePreset::kSample;
    schema_ = arrow::schema({
        arrow::field("id", arrow::int64(), false),
        arrow::field("date", arrow::date32()),
        arrow::field("category", arrow::utf8()),
        arrow::field(seed_names ? "value1" : "value", arrow::float64()),
        arrow::field(seed_names ? "value2" : "amount", arrow::float64()),
        arrow::field(seed_names ? "active" : "flag", arrow::boolean()),
        arrow::field("name", arrow::utf8()),
    });
  }
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    const int64_t n = std::min(batch_rows_, rows_ - produced_);
    if (n <= 0) {
      *out = nullptr;
      return arrow::Status::OK();
    }
    static const char* kCategories[] = {"A", "B", "C", "D", "E"};
    std::normal_distribution<double> normal(100.0, 15.0);
    std::exponential_distribution<double> exponential(1.0 / 50.0);
    std::uniform_int_distribution<int32_t> day(19358, 20453);  // 2023-01-01 .. 2025-12-31
    std::uniform_int_distribution<int> category(0, 4);
    std::bernoulli_distribution flag(0.3);
    arrow::Int64Builder id;
    arrow::Date32Builder date;
    arrow::StringBuilder cat, name;
    arrow::DoubleBuilder value, amount;
    arrow::BooleanBuilder flags;
    ARROW_RETURN_NOT_OK(id.Reserve(n));
    ARROW_RETURN_NOT_OK(date.Reserve(n));
    ARROW_RETURN_NOT_OK(value.Reserve(n));
    ARROW_RETURN_NOT_OK(amount.Reserve(n));
    ARROW_RETURN_NOT_OK(flags.Reserve(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = produced_ + i;
      id.UnsafeAppend(row);
      date.UnsafeAppend(day(rng_));
      ARROW_RETURN_NOT_OK(cat.Append(kCategories[category(rng_)]));
      value.UnsafeAppend(normal(rng_));
      amount.UnsafeAppend(exponential(rng_));
      flags.UnsafeAppend(flag(rng_));
      ARROW_RETURN_NOT_OK(name.Append("item_" + std::to_string(row)));
    }
    produced_ += n;
    arrow::ArrayVector columns(7);
    ARROW_RETURN_NOT_OK(id.Finish(&columns[0]));
    ARROW_RETURN_NOT_OK(date.Finish(&columns[1]));
    ARROW_RETURN_NOT_OK(cat.Finish(&columns[2]));
    ARROW_RETURN_NOT_OK(value.Finish(&columns[3]));
    ARROW_RETURN_NOT_OK(amount.Finish(&columns[4]));
    ARROW_RETURN_NOT_OK(flags.Finish(&columns[5]));
    ARROW_RETURN_NOT_OK(name.Finish(&columns[6]));
    *out = arrow::RecordBatch::Make(schema_, n, std::move(columns));
    return arrow::Status::OK();
  }

 private:
  int64_t rows_;
  int64_t batch_rows_;
  int64_t produced_ = 0;
  std::mt19937_64 rng_;
  std::shared_ptr<arrow::Schema> schema_;
};

}  // namespace

arrow::Result<SamplePreset> ParseSamplePreset(const std::string& name) {
  if (name.empty()) return SamplePreset::kDefault;
  if (name == "sample") return SamplePreset::kSample;
  return arrow::Status::Invalid("--preset: unknown preset '", name, "' (known: sample)");
}

std::string SamplePresetHelp() {
  return "sample (id, date, category, value1, value2, active, name)";
}

std::shared_ptr<arrow::RecordBatchReader> MakeSampleReader(int64_t rows, int64_t batch_rows,
                                                           uint64_t seed,
                                                           SamplePreset preset) {
  return std::make_shared<SampleReader>(rows, batch_rows, seed, preset);
}

arrow::Result<std::shared_ptr<arrow::Table>> MakeBenchTable(int64_t rows, int64_t batch_rows,
                                                            bool two_columns) {
  std::shared_ptr<arrow::Schema> schema =
      two_columns ? arrow::schema({arrow::field("id", arrow::int64()),
                                   arrow::field("value", arrow::float64())})
                  : arrow::schema({arrow::field("id", arrow::int64()),
                                   arrow::field("value", arrow::float64()),
                                   arrow::field("name", arrow::utf8()),
                                   arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO)),
                                   arrow::field("flag", arrow::boolean())});
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> uniform(0.0, 1000.0);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  const int64_t t0 = 1'700'000'000'000'000;  // 2023-11-14, microseconds
  for (int64_t start = 0; start < rows; start += batch_rows) {
    const int64_t n = std::min(batch_rows, rows - start);
    arrow::Int64Builder id;
    arrow::DoubleBuilder value;
    arrow::StringBuilder name;
    arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO),
                               arrow::default_memory_pool());
    arrow::BooleanBuilder flag;
    ARROW_RETURN_NOT_OK(id.Reserve(n));
    ARROW_RETURN_NOT_OK(value.Reserve(n));
    ARROW_RETURN_NOT_OK(ts.Reserve(n));
    ARROW_RETURN_NOT_OK(flag.Reserve(n));
    ARROW_RETURN_NOT_OK(name.Reserve(n));
    ARROW_RETURN_NOT_OK(name.ReserveData(n * 12));
    char text[32];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = start + i;
      id.UnsafeAppend(row);
      value.UnsafeAppend(uniform(rng));
      ts.UnsafeAppend(t0 + row * 1000);
      flag.UnsafeAppend((row & 1) == 0);
      const int len = std::snprintf(text, sizeof(text), "name_%07lld",
                                    static_cast<long long>(row % 10'000'000));
      name.UnsafeAppend(text, len);
    }
    arrow::ArrayVector columns;
    std::shared_ptr<arrow::Array> a;
    ARROW_RETURN_NOT_OK(id.Finish(&a));
    columns.push_back(a);
    ARROW_RETURN_NOT_OK(value.Finish(&a));
    columns.push_back(a);
    if (!two_columns) {
      ARROW_RETURN_NOT_OK(name.Finish(&a));
      columns.push_back(a);
      ARROW_RETURN_NOT_OK(ts.Finish(&a));
      columns.push_back(a);
      ARROW_RETURN_NOT_OK(flag.Finish(&a));
      columns.push_back(a);
    }
    batches.push_back(arrow::RecordBatch::Make(schema, n, std::move(columns)));
  }
  return arrow::Table::FromRecordBatches(schema, batches);
}

}  // namespace arrowport::cli
