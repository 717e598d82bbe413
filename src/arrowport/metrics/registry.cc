#include "arrowport/metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace arrowport::metrics {

namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Label values escape backslash, double quote and line feed; HELP text the first and last.
void AppendEscaped(std::string* out, const std::string& text, bool quotes) {
  for (const char c : text) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '"' && quotes) {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

// The series of a callback family: computed at each scrape.
class CallbackFamily : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names,
                 std::function<std::vector<Sample>()> collect)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        collect_(std::move(collect)) {}

 protected:
  void WriteSeries(std::string* out) const override {
    for (const auto& sample : collect_()) {
      if (sample.labels.size() != label_names_.size()) continue;  // a bug: never malformed
      WriteLine(out, "", sample.labels, FormatValue(sample.value));
    }
  }

 private:
  const std::function<std::vector<Sample>()> collect_;
};

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9.007199254740992e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  // Plain decimals where they stay short (bucket bounds read "0.0005", not "5e-04").
  const double magnitude = std::fabs(value);
  const auto format = magnitude >= 1e-6 && magnitude < 1e15 ? std::chars_format::fixed
                                                             : std::chars_format::general;
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, format);
  if (ec != std::errc()) return "NaN";
  return std::string(buffer, end);
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  const auto bucket = static_cast<size_t>(
      std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void FamilyBase::Write(std::string* out) const {
  *out += "# HELP ";
  *out += name_;
  *out += ' ';
  AppendEscaped(out, help_, /*quotes=*/false);
  *out += "\n# TYPE ";
  *out += name_;
  *out += ' ';
  *out += TypeName(type_);
  *out += '\n';
  WriteSeries(out);
}

void FamilyBase::WriteLine(std::string* out, const char* suffix, const LabelValues& labels,
                           const std::string& value, const char* extra_label,
                           const std::string& extra_value) const {
  *out += name_;
  *out += suffix;
  if (!labels.empty() || extra_label != nullptr) {
    *out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) *out += ',';
      *out += label_names_[i];
      *out += "=\"";
      AppendEscaped(out, labels[i], /*quotes=*/true);
      *out += '"';
    }
    if (extra_label != nullptr) {
      if (!labels.empty()) *out += ',';
      *out += extra_label;
      *out += "=\"";
      *out += extra_value;
      *out += '"';
    }
    *out += '}';
  }
  *out += ' ';
  *out += value;
  *out += '\n';
}

template <>
std::unique_ptr<Counter> Family<Counter>::Make() const {
  return std::make_unique<Counter>();
}
template <>
std::unique_ptr<Gauge> Family<Gauge>::Make() const {
  return std::make_unique<Gauge>();
}
template <>
std::unique_ptr<Histogram> Family<Histogram>::Make() const {
  return std::make_unique<Histogram>(&bounds_);
}

template <>
void Family<Counter>::WriteSeries(std::string* out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [labels, counter] : series_) {
    WriteLine(out, "", labels, std::to_string(counter->value()));
  }
}

template <>
void Family<Gauge>::WriteSeries(std::string* out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [labels, gauge] : series_) {
    WriteLine(out, "", labels, FormatValue(gauge->value()));
  }
}

template <>
void Family<Histogram>::WriteSeries(std::string* out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [labels, histogram] : series_) {
    const auto snapshot = histogram->Read();
    for (size_t i = 0; i < bounds_.size(); ++i) {
      WriteLine(out, "_bucket", labels, std::to_string(snapshot.cumulative[i]), "le",
                FormatValue(bounds_[i]));
    }
    const std::string count = std::to_string(snapshot.cumulative.back());
    WriteLine(out, "_bucket", labels, count, "le", "+Inf");
    WriteLine(out, "_sum", labels, FormatValue(snapshot.sum));
    WriteLine(out, "_count", labels, count);
  }
}

FamilyBase& Registry::Add(std::unique_ptr<FamilyBase> family) {
  std::lock_guard<std::mutex> lock(mutex_);
  families_.push_back(std::move(family));
  return *families_.back();
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return static_cast<Family<Counter>&>(Add(std::make_unique<Family<Counter>>(
      name, help, MetricType::kCounter, std::move(label_names))));
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  return static_cast<Family<Gauge>&>(Add(std::make_unique<Family<Gauge>>(
      name, help, MetricType::kGauge, std::move(label_names))));
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  return static_cast<Family<Histogram>&>(Add(std::make_unique<Family<Histogram>>(
      name, help, MetricType::kHistogram, std::move(label_names), std::move(bounds))));
}

void Registry::AddCallback(const std::string& name, const std::string& help, MetricType type,
                           std::vector<std::string> label_names,
                           std::function<std::vector<Sample>()> collect) {
  Add(std::make_unique<CallbackFamily>(name, help, type, std::move(label_names),
                                       std::move(collect)));
}

std::string Registry::Exposition() const {
  std::vector<const FamilyBase*> families;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& family : families_) families.push_back(family.get());
  }
  std::string out;
  out.reserve(16 << 10);
  // Families are never removed: the pointers stay valid after the lock.
  for (const auto* family : families) family->Write(&out);
  return out;
}

}  // namespace arrowport::metrics
