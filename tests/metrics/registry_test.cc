#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <thread>

#include "metrics/process_metrics.h"

namespace metrics {
namespace {

TEST(Registry, RendersCountersAndGaugesInPrometheusTextFormat) {
  Registry r;
  Counter& c =
      r.counter("etcd_server_proposals_failed_total", "The total number of failed proposals.");
  Gauge& g = r.gauge("etcd_server_has_leader", "Whether or not a leader exists.");
  c.inc();
  c.inc(2);
  g.set(1);
  EXPECT_EQ(r.render(),
            "# HELP etcd_server_proposals_failed_total The total number of failed proposals.\n"
            "# TYPE etcd_server_proposals_failed_total counter\n"
            "etcd_server_proposals_failed_total 3\n"
            "# HELP etcd_server_has_leader Whether or not a leader exists.\n"
            "# TYPE etcd_server_has_leader gauge\n"
            "etcd_server_has_leader 1\n");
}

TEST(Registry, LabelledChildrenAreRenderedInLabelOrderWithEscapedValues) {
  Registry r;
  Family<Counter>& f = r.counter_family("bytes_total", "Bytes.\\ and\nmore", {"To"});
  f.with({"b"}).inc(5);
  f.with({"a\"q\\\n"}).inc(1);
  EXPECT_EQ(&f.with({"b"}), &f.with({"b"}));  // one child per value tuple
  EXPECT_EQ(r.render(),
            "# HELP bytes_total Bytes.\\\\ and\\nmore\n"
            "# TYPE bytes_total counter\n"
            "bytes_total{To=\"a\\\"q\\\\\\n\"} 1\n"
            "bytes_total{To=\"b\"} 5\n");
}

TEST(Registry, HistogramBucketsAreCumulativeAndInclusiveOfTheirBound) {
  Registry r;
  Histogram& h = r.histogram("d_seconds", "D.", {0.001, 0.002, 0.004});
  h.observe(0.001);   // le=0.001 (a bound is inclusive)
  h.observe(0.0015);  // le=0.002
  h.observe(0.5);     // +Inf only
  EXPECT_EQ(r.render(),
            "# HELP d_seconds D.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{le=\"0.001\"} 1\n"
            "d_seconds_bucket{le=\"0.002\"} 2\n"
            "d_seconds_bucket{le=\"0.004\"} 2\n"
            "d_seconds_bucket{le=\"+Inf\"} 3\n"
            "d_seconds_sum 0.5025\n"
            "d_seconds_count 3\n");
}

TEST(Registry, LabelledHistogramsPutLeAfterTheirLabels) {
  Registry r;
  r.histogram_family("rtt_seconds", "RTT.", {"To"}, {1}).with({"x"}).observe(2);
  const std::string text = r.render();
  EXPECT_NE(text.find("rtt_seconds_bucket{To=\"x\",le=\"1\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rtt_seconds_bucket{To=\"x\",le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("rtt_seconds_count{To=\"x\"} 1\n"), std::string::npos);
}

TEST(Registry, CallbacksAreReadAtRenderTime) {
  Registry r;
  double depth = 3;
  r.callback("raftkv_queue_depth", "Items.", Type::kGauge, [&depth] {
    return std::vector<Sample>{{.labels = {{"queue", "core"}}, .value = depth}};
  });
  EXPECT_NE(r.render().find("raftkv_queue_depth{queue=\"core\"} 3\n"), std::string::npos);
  depth = 7;
  EXPECT_NE(r.render().find("raftkv_queue_depth{queue=\"core\"} 7\n"), std::string::npos);
}

TEST(Registry, IncrementsFromManyThreadsAreAllCounted) {
  Registry r;
  Counter& c = r.counter("c_total", "C.");
  Histogram& h = r.histogram("h", "H.", exponential_buckets(1, 2, 4));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(i % 10);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
  EXPECT_EQ(h.snapshot().count, 40000u);
  EXPECT_EQ(h.snapshot().sum, 4 * 1000 * 45);
}

TEST(Registry, BadNamesAndRepeatedNamesStopTheProgram) {
  EXPECT_DEATH(Registry().counter("9lives", "x"), "not a metric name");
  EXPECT_DEATH(Registry().counter_family("ok", "x", {"le"}), "not a label name");
  EXPECT_DEATH(
      {
        Registry r;
        r.gauge("twice", "x");
        r.gauge("twice", "y");
      },
      "registered twice");
  EXPECT_DEATH(Registry().histogram("h", "x", {2, 1}), "ascending");
}

TEST(Histogram, QuantileBoundAndDeltasBetweenSnapshots) {
  Histogram h(exponential_buckets(0.001, 2, 14));  // etcd's WAL fsync buckets
  EXPECT_EQ(h.snapshot().quantile_bound(0.99), 0);
  for (int i = 0; i < 99; ++i) h.observe(0.0005);
  h.observe(3);
  const Histogram::Snapshot first = h.snapshot();
  EXPECT_DOUBLE_EQ(first.quantile_bound(0.99), 0.001);
  EXPECT_DOUBLE_EQ(first.quantile_bound(1.0), 4.096);
  for (int i = 0; i < 10; ++i) h.observe(1.5);
  const Histogram::Snapshot delta = h.snapshot().since(first);
  EXPECT_EQ(delta.count, 10u);
  EXPECT_DOUBLE_EQ(delta.quantile_bound(0.99), 2.048);
  EXPECT_DOUBLE_EQ(delta.sum, 15);
}

TEST(ProcessMetrics, ReportThisProcess) {
  Registry r;
  register_process_metrics(r);
  const std::string text = r.render();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_open_fds ", "process_max_fds ", "process_start_time_seconds ",
                           "process_virtual_memory_bytes ", "raftkv_process_threads "}) {
    const size_t at = text.find(std::string("\n") + name);
    ASSERT_NE(at, std::string::npos) << name;
    const double v = std::stod(text.substr(at + 1 + std::string(name).size()));
    EXPECT_GT(v, 0) << name;
  }
}

}  // namespace
}  // namespace metrics
