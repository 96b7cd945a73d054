/// @file
/// Metrics: counters, gauges and histograms kept in atomic cells (no lock on the hot
/// path), grouped into families with label sets, and rendered in Prometheus text format
/// 0.0.4. A small stand-in for the Prometheus client libraries Debian does not package.
/// Public: an embedder may hand its own Registry to the node and the transport
/// (NodeConfig::registry, GrpcTransportOptions::registry) and render() it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace metrics {

/// Label pairs of a sample: name, value.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// Only goes up. inc() is one atomic add; safe from any thread.
class Counter {
 public:
  /// Adds `by` (>= 0).
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  /// The count so far.
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// Goes up and down; set() and add() are single atomic operations.
class Gauge {
 public:
  /// Sets the value.
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  /// Adds `by` (may be negative).
  void add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  /// The value now.
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// Counts observations into buckets by upper bound (Prometheus' `le`), plus their sum.
/// observe() is a binary search and three atomic adds. A reader may see the count of an
/// observation a moment before its bucket; Prometheus' clients accept the same.
class Histogram {
 public:
  /// `bounds` ascending; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> bounds);
  /// Counts `v` in the first bucket whose bound is >= v.
  void observe(double v);

  /// The histogram's content at one moment.
  struct Snapshot {
    std::vector<double> bounds;    ///< the upper bounds, ascending, +Inf left out
    std::vector<uint64_t> counts;  ///< per bucket (not cumulative); one more than bounds
    double sum = 0;                ///< of every observation
    uint64_t count = 0;            ///< observations
    /// The upper bound of the bucket holding quantile q (0 < q <= 1) of the observations;
    /// 0 when there are none, +Inf when it lies past the last bound.
    double quantile_bound(double q) const;
    /// The observations made between `earlier` and this snapshot (same histogram).
    Snapshot since(const Snapshot& earlier) const;
  };
  /// A copy of the counts now.
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

/// Prometheus' exponential buckets: start, start*factor, ... (`count` bounds).
std::vector<double> exponential_buckets(double start, double factor, int count);
/// The Prometheus clients' default buckets (.005 s ... 10 s), as go-grpc-prometheus uses.
std::vector<double> default_buckets();

/// A metric's Prometheus type.
enum class Type {
  kCounter,    ///< counter
  kGauge,      ///< gauge
  kHistogram,  ///< histogram
};

/// One metric name with its help text, type and label names; each distinct label value
/// tuple is one child cell. with() takes a lock to find the child, so hot paths look it
/// up once and keep the reference (children live as long as the family).
template <typename Metric>
class Family {
 public:
  /// Children are made by `make`, one per label value tuple.
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}
  /// The child for `values` (one per label name), made on first use.
  Metric& with(const std::vector<std::string>& values) {
    std::lock_guard<std::mutex> lock(mu_);
    std::unique_ptr<Metric>& m = children_[values];
    if (m == nullptr) m = make_();
    return *m;
  }
  /// The label names, in order.
  const std::vector<std::string>& label_names() const { return label_names_; }
  /// Calls f(values, metric) for every child, in label order.
  void for_each(const std::function<void(const std::vector<std::string>&, const Metric&)>& f) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, m] : children_) f(values, *m);
  }

 private:
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Metric>()> make_;
  std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

/// A value read when /metrics is scraped (a queue depth, an index), with its labels.
struct Sample {
  Labels labels;     ///< the sample's labels
  double value = 0;  ///< its value
};

/// Every metric of one process. Registration happens at start (it takes a lock and
/// stops the process on a bad or repeated name: that is a bug, not input); updates
/// never lock. Metrics live as long as the registry.
class Registry {
 public:
  /// Registers one metric of each kind, or a family of them by label names, named `name`
  /// with `help` (Prometheus' HELP line).
  ///@{
  Counter& counter(const std::string& name, const std::string& help);
  Gauge& gauge(const std::string& name, const std::string& help);
  Histogram& histogram(const std::string& name, const std::string& help,
                       std::vector<double> bounds);
  Family<Counter>& counter_family(const std::string& name, const std::string& help,
                                  std::vector<std::string> labels);
  Family<Gauge>& gauge_family(const std::string& name, const std::string& help,
                              std::vector<std::string> labels);
  Family<Histogram>& histogram_family(const std::string& name, const std::string& help,
                                      std::vector<std::string> labels, std::vector<double> bounds);
  ///@}
  /// A metric whose samples are computed at scrape time by `read` (on the scraping
  /// thread; it must not block for long).
  void callback(const std::string& name, const std::string& help, Type type,
                std::function<std::vector<Sample>()> read);

  /// All metrics in Prometheus text format 0.0.4, in registration order.
  std::string render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    Type type;
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
    std::function<std::vector<Sample>()> read;
  };
  Entry& add(const std::string& name, const std::string& help, Type type,
             const std::vector<std::string>& labels);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

/// Prometheus' escaping of a label value (backslash, double quote, newline).
std::string escape_label_value(const std::string& v);
/// Whether `name` is a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*; no ':' in
/// label names).
///@{
bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);
///@}

}  // namespace metrics
