#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace metrics {
namespace {

// Registration errors are bugs in the program (names are literals), not input.
[[noreturn]] void bad_registration(const std::string& what) {
  std::fputs(("metrics: " + what + "\n").c_str(), stderr);
  std::abort();
}

// Shortest text that reads back as `v` ("0.005", "1", "+Inf"), as Go's client writes.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// Help text escapes backslash and newline; label values also the double quote.
std::string escape(const std::string& s, bool quote) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} (empty when there are no labels).
std::string label_text(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
  }
  return out + "}";
}

Labels zip(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  Labels out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out.emplace_back(names[i], values[i]);
  }
  return out;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void render_histogram(const std::string& name, const Labels& labels, const Histogram& h,
                      std::string* out) {
  const Histogram::Snapshot s = h.snapshot();
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= s.bounds.size(); ++i) {
    cumulative += s.counts[i];
    Labels with_le = labels;
    with_le.emplace_back("le", i < s.bounds.size() ? number(s.bounds[i]) : "+Inf");
    *out += name + "_bucket" + label_text(with_le) + " " + std::to_string(cumulative) + "\n";
  }
  *out += name + "_sum" + label_text(labels) + " " + number(s.sum) + "\n";
  *out += name + "_count" + label_text(labels) + " " + std::to_string(s.count) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    bad_registration("histogram bounds must be strictly ascending");
  }
}

void Histogram::observe(double v) {
  // Bucket i counts observations <= bounds_[i] (`le`); the last one, the rest.
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];  // consistent with the buckets, unlike count_
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

double Histogram::Snapshot::quantile_bound(double q) const {
  if (count == 0) return 0;
  const double rank = q * static_cast<double>(count);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += counts[i];
    if (static_cast<double>(cumulative) >= rank) return bounds[i];
  }
  return INFINITY;
}

Histogram::Snapshot Histogram::Snapshot::since(const Snapshot& earlier) const {
  Snapshot d = *this;
  if (earlier.counts.size() != counts.size()) return d;
  d.count = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    d.count += d.counts[i];
  }
  d.sum = sum - earlier.sum;
  return d;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> default_buckets() { return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}; }

std::string escape_label_value(const std::string& v) { return escape(v, true); }

bool valid_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(const std::string& name) {
  return valid_metric_name(name) && name.find(':') == std::string::npos && name != "le";
}

Registry::Entry& Registry::add(const std::string& name, const std::string& help, Type type,
                               const std::vector<std::string>& labels) {
  if (!valid_metric_name(name)) bad_registration("\"" + name + "\" is not a metric name");
  for (const std::string& l : labels) {
    if (!valid_label_name(l)) bad_registration("\"" + l + "\" is not a label name");
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries_) {
    if (e->name == name) bad_registration("metric " + name + " is registered twice");
  }
  entries_.push_back(std::make_unique<Entry>(Entry{.name = name,
                                                   .help = help,
                                                   .type = type,
                                                   .counters = nullptr,
                                                   .gauges = nullptr,
                                                   .histograms = nullptr,
                                                   .read = nullptr}));
  return *entries_.back();
}

Family<Counter>& Registry::counter_family(const std::string& name, const std::string& help,
                                          std::vector<std::string> labels) {
  Entry& e = add(name, help, Type::kCounter, labels);
  e.counters = std::make_unique<Family<Counter>>(std::move(labels),
                                                 [] { return std::make_unique<Counter>(); });
  return *e.counters;
}

Family<Gauge>& Registry::gauge_family(const std::string& name, const std::string& help,
                                      std::vector<std::string> labels) {
  Entry& e = add(name, help, Type::kGauge, labels);
  e.gauges =
      std::make_unique<Family<Gauge>>(std::move(labels), [] { return std::make_unique<Gauge>(); });
  return *e.gauges;
}

Family<Histogram>& Registry::histogram_family(const std::string& name, const std::string& help,
                                              std::vector<std::string> labels,
                                              std::vector<double> bounds) {
  Entry& e = add(name, help, Type::kHistogram, labels);
  // Checks the bounds now rather than at the first child.
  Histogram check(bounds);
  e.histograms = std::make_unique<Family<Histogram>>(
      std::move(labels),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
  return *e.histograms;
}

Counter& Registry::counter(const std::string& name, const std::string& help) {
  return counter_family(name, help, {}).with({});
}

Gauge& Registry::gauge(const std::string& name, const std::string& help) {
  return gauge_family(name, help, {}).with({});
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds) {
  return histogram_family(name, help, {}, std::move(bounds)).with({});
}

void Registry::callback(const std::string& name, const std::string& help, Type type,
                        std::function<std::vector<Sample>()> read) {
  if (type == Type::kHistogram) bad_registration(name + ": a callback cannot be a histogram");
  add(name, help, type, {}).read = std::move(read);
}

std::string Registry::render() const {
  std::vector<Entry*> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (Entry* e : entries) {
    out += "# HELP " + e->name + " " + escape(e->help, false) + "\n# TYPE " + e->name + " " +
           type_name(e->type) + "\n";
    auto scalar = [&](const Labels& labels, double v) {
      out += e->name + label_text(labels) + " " + number(v) + "\n";
    };
    if (e->read) {
      for (const Sample& s : e->read()) scalar(s.labels, s.value);
    } else if (e->counters) {
      e->counters->for_each([&](const std::vector<std::string>& values, const Counter& c) {
        scalar(zip(e->counters->label_names(), values), c.value());
      });
    } else if (e->gauges) {
      e->gauges->for_each([&](const std::vector<std::string>& values, const Gauge& g) {
        scalar(zip(e->gauges->label_names(), values), g.value());
      });
    } else if (e->histograms) {
      e->histograms->for_each([&](const std::vector<std::string>& values, const Histogram& h) {
        render_histogram(e->name, zip(e->histograms->label_names(), values), h, &out);
      });
    }
  }
  return out;
}

}  // namespace metrics
