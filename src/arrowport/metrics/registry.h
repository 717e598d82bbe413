#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace arrowport::metrics {

/// A count that only grows (a Prometheus counter). Lock-free; thread-safe.
class Counter {
 public:
  void Add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

/// A value that goes up and down (a Prometheus gauge). Lock-free; thread-safe.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// \brief Observations counted into fixed buckets (a Prometheus histogram): each
/// observation lands in the first bucket whose upper bound it does not pass. Lock-free;
/// thread-safe. A scrape reads the buckets one by one, so it may see an observation in
/// its bucket and not yet in the count (Prometheus clients accept the same).
class Histogram {
 public:
  /// `bounds`: ascending upper bounds, shared by every series of a family (outlives it).
  explicit Histogram(const std::vector<double>* bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  ///< per bound, then +Inf
    double sum = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, the last is +Inf
  std::atomic<double> sum_{0};
};

/// Label values of one series, in the order of its family's label names.
using LabelValues = std::vector<std::string>;

/// One series' value computed when a scrape asks (see Registry::AddCallback).
struct Sample {
  LabelValues labels;
  double value = 0;
};

enum class MetricType { kCounter, kGauge, kHistogram };

/// \brief What every family shares: its name, help text, type and label names, and how
/// it writes itself in the text exposition format.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  /// Appends `# HELP`, `# TYPE` and one line per series (histograms: its buckets, sum
  /// and count) to `out`.
  void Write(std::string* out) const;
  const std::string& name() const { return name_; }

 protected:
  /// Appends the series lines (after the HELP and TYPE lines).
  virtual void WriteSeries(std::string* out) const = 0;
  /// `name_{a="x",b="y"} value` (label values escaped), with one more label when given.
  void WriteLine(std::string* out, const char* suffix, const LabelValues& labels,
                 const std::string& value, const char* extra_label = nullptr,
                 const std::string& extra_value = "") const;

  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

/// \brief One metric name with a series per label set. `With` returns the series for a
/// set of label values, creating it on first use; the reference stays valid for the
/// family's life, so hot paths look a series up once and keep it. Thread-safe.
template <typename T>
class Family : public FamilyBase {
 public:
  Family(std::string name, std::string help, MetricType type,
         std::vector<std::string> label_names, std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        bounds_(std::move(bounds)) {
    if (label_names_.empty()) With({});  // a series without labels exists from the start
  }

  /// The series for `labels` (as many values as the family has label names).
  T& With(const LabelValues& labels) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = series_[labels];
    if (!slot) slot = Make();
    return *slot;
  }

 protected:
  void WriteSeries(std::string* out) const override;

 private:
  std::unique_ptr<T> Make() const;

  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;          // guards series_ (not the values: they are atomic)
  std::map<LabelValues, std::unique_ptr<T>> series_;
};

// Defined in registry.cc for the three kinds of series.
template <>
std::unique_ptr<Counter> Family<Counter>::Make() const;
template <>
std::unique_ptr<Gauge> Family<Gauge>::Make() const;
template <>
std::unique_ptr<Histogram> Family<Histogram>::Make() const;
template <>
void Family<Counter>::WriteSeries(std::string* out) const;
template <>
void Family<Gauge>::WriteSeries(std::string* out) const;
template <>
void Family<Histogram>::WriteSeries(std::string* out) const;

/// \brief The metrics of one server, written in the Prometheus text exposition format
/// (version 0.0.4). Families are registered once, at start, and live as long as the
/// registry; values are updated lock-free; callback families compute their samples when
/// a scrape asks (DuckDB's and the process's figures, gauges read from live state).
/// Thread-safe.
class Registry {
 public:
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds);
  /// A family whose samples `collect` returns at each scrape (a counter or a gauge).
  /// `collect` runs on the scraping thread without any registry lock held; it must not
  /// throw.
  void AddCallback(const std::string& name, const std::string& help, MetricType type,
                   std::vector<std::string> label_names,
                   std::function<std::vector<Sample>()> collect);

  /// Every family, in the order registered.
  std::string Exposition() const;

 private:
  FamilyBase& Add(std::unique_ptr<FamilyBase> family);

  mutable std::mutex mutex_;  // guards families_ (registration, and the list at a scrape)
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

/// The text of `value` as the exposition format writes numbers: integers without a
/// fraction, others in the shortest form that reads back the same, `+Inf`, `-Inf`, `NaN`.
std::string FormatValue(double value);

/// The Content-Type of Registry::Exposition().
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace arrowport::metrics
