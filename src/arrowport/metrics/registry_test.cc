#include "arrowport/metrics/registry.h"

#include <gtest/gtest.h>

#include <thread>

namespace arrowport::metrics {
namespace registry_test {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(MetricsRegistryTest, WritesCountersAndGaugesInTheTextFormat) {
  Registry registry;
  auto& rows = registry.AddCounter("rows_total", "Rows\nwritten \\ there", {"stream"});
  auto& up = registry.AddGauge("up", "Up");
  rows.With({"sensors"}).Add(5);
  rows.With({"sensors"}).Add(2);
  rows.With({"a\"b\\c\nd"}).Add();
  up.With({}).Set(0.5);
  const std::string text = registry.Exposition();
  EXPECT_TRUE(Has(text, "# HELP rows_total Rows\\nwritten \\\\ there")) << text;
  EXPECT_TRUE(Has(text, "# TYPE rows_total counter"));
  EXPECT_TRUE(Has(text, "rows_total{stream=\"sensors\"} 7"));
  // Label values escape backslash, quote and line feed.
  EXPECT_TRUE(Has(text, "rows_total{stream=\"a\\\"b\\\\c\\nd\"} 1")) << text;
  EXPECT_TRUE(Has(text, "# TYPE up gauge"));
  EXPECT_TRUE(Has(text, "up 0.5"));
  // Families appear in the order they were registered.
  EXPECT_LT(text.find("rows_total"), text.find("# HELP up"));
}

TEST(MetricsRegistryTest, AFamilyWithoutLabelsShowsItsSeriesFromTheStart) {
  Registry registry;
  registry.AddCounter("events_total", "Events");
  EXPECT_TRUE(Has(registry.Exposition(), "events_total 0"));
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry registry;
  auto& latency = registry.AddHistogram("latency_seconds", "Latency", {"protocol"},
                                        {0.001, 0.01, 0.1});
  auto& flight = latency.With({"flight"});
  flight.Observe(0.0005);
  flight.Observe(0.001);  // on a bound: counted in that bucket (le)
  flight.Observe(0.05);
  flight.Observe(7);
  const std::string text = registry.Exposition();
  EXPECT_TRUE(Has(text, "# TYPE latency_seconds histogram"));
  EXPECT_TRUE(Has(text, "latency_seconds_bucket{protocol=\"flight\",le=\"0.001\"} 2")) << text;
  EXPECT_TRUE(Has(text, "latency_seconds_bucket{protocol=\"flight\",le=\"0.01\"} 2"));
  EXPECT_TRUE(Has(text, "latency_seconds_bucket{protocol=\"flight\",le=\"0.1\"} 3"));
  EXPECT_TRUE(Has(text, "latency_seconds_bucket{protocol=\"flight\",le=\"+Inf\"} 4"));
  EXPECT_TRUE(Has(text, "latency_seconds_count{protocol=\"flight\"} 4"));
  EXPECT_NE(text.find("latency_seconds_sum{protocol=\"flight\"} 7.05"), std::string::npos)
      << text;
}

TEST(MetricsRegistryTest, CallbackFamiliesAreComputedAtEachScrape) {
  Registry registry;
  int calls = 0;
  registry.AddCallback("open_things", "Things", MetricType::kGauge, {"kind"}, [&] {
    ++calls;
    return std::vector<Sample>{{{"a"}, 1}, {{"b"}, static_cast<double>(calls)},
                               {{"wrong", "arity"}, 9}};
  });
  (void)registry.Exposition();
  const std::string text = registry.Exposition();
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(Has(text, "open_things{kind=\"b\"} 2")) << text;
  EXPECT_EQ(text.find("arity"), std::string::npos);  // a malformed sample is dropped
}

TEST(MetricsRegistryTest, ValuesAreWrittenAsPrometheusReadsThem) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2), "-2");
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(1.5e20), "1.5e+20");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAreAllCounted) {
  Registry registry;
  auto& family = registry.AddCounter("hits_total", "Hits", {"who"});
  auto& histogram = registry.AddHistogram("h_seconds", "H", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = family.With({t % 2 ? "odd" : "even"});
      for (int i = 0; i < 10000; ++i) {
        mine.Add();
        histogram.With({}).Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(family.With({"odd"}).value() + family.With({"even"}).value(), 40000);
  EXPECT_EQ(histogram.With({}).Read().cumulative.back(), 40000u);
}

}  // namespace registry_test
}  // namespace arrowport::metrics
