#include "limits/limits_config.h"

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <sstream>
#include <type_traits>

namespace limits {
namespace {

std::string text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

absl::Status out_of_range(const std::string& field, const std::string& value,
                          const std::string& allowed) {
  return absl::InvalidArgumentError(field + " " + value + " is out of range " + allowed);
}

absl::Status check_rate(const std::optional<double>& v, const std::string& field, double max) {
  if (!v.has_value()) return absl::OkStatus();
  if (!std::isfinite(*v) || *v <= 0 || *v > max) {
    return out_of_range(field, text(*v), "(0, " + text(max) + "]");
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status check_count(const std::optional<T>& v, const std::string& field, T max) {
  if (!v.has_value()) return absl::OkStatus();
  if (*v == 0 || *v > max) {
    return out_of_range(field, std::to_string(*v), "[1, " + std::to_string(max) + "]");
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

// Calls set(key, value, text) for each "key=value" of `spec`; values must be numbers.
absl::Status for_each_item(
    const std::string& spec,
    const std::function<absl::Status(const std::string&, double, const std::string&)>& set) {
  std::istringstream items(spec);
  for (std::string item; std::getline(items, item, ',');) {
    const size_t at = item.find('=');
    const std::string key = item.substr(0, at);
    const std::string value = at == std::string::npos ? "" : item.substr(at + 1);
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || end == nullptr || *end != '\0') {
      return absl::InvalidArgumentError("\"" + item + "\" in \"" + spec + "\" is not key=number");
    }
    if (absl::Status s = set(key, v, value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// A count must be whole and not negative before it is narrowed to T.
template <typename T>
absl::Status set_count(std::optional<T>* field, const std::string& key, double v,
                       const std::string& text) {
  if (v < 0 || v != std::floor(v) || v > static_cast<double>(std::numeric_limits<T>::max())) {
    return absl::InvalidArgumentError(key + " " + text + " is not a whole number >= 0");
  }
  *field = static_cast<T>(v);
  return absl::OkStatus();
}

absl::Status unknown(const std::string& key, const char* known) {
  return absl::InvalidArgumentError("unknown limit \"" + key + "\" (known: " + known + ")");
}

}  // namespace

absl::StatusOr<ClientLimits> parse_client_limits(const std::string& spec) {
  ClientLimits l;
  absl::Status s = for_each_item(
      spec, [&l](const std::string& key, double v, const std::string& text) -> absl::Status {
        if (key == "requests_per_second") {
          l.requests_per_second = v;
        } else if (key == "burst") {
          l.burst = v;
        } else if (key == "write_bytes_per_second") {
          l.write_bytes_per_second = v;
        } else if (key == "max_concurrent") {
          return set_count(&l.max_concurrent, key, v, text);
        } else if (key == "max_memory_bytes") {
          return set_count(&l.max_memory_bytes, key, v, text);
        } else if (key == "max_watchers") {
          return set_count(&l.max_watchers, key, v, text);
        } else if (key == "max_watchers_per_stream") {
          return set_count(&l.max_watchers_per_stream, key, v, text);
        } else if (key == "max_leases") {
          return set_count(&l.max_leases, key, v, text);
        } else {
          return unknown(key,
                         "requests_per_second, burst, write_bytes_per_second, max_concurrent, "
                         "max_memory_bytes, max_watchers, max_watchers_per_stream, max_leases");
        }
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return l;
}

absl::StatusOr<MemberLimits> parse_member_limits(const std::string& spec) {
  MemberLimits m;
  absl::Status s = for_each_item(
      spec, [&m](const std::string& key, double v, const std::string& text) -> absl::Status {
        if (key == "max_concurrent") return set_count(&m.max_concurrent, key, v, text);
        if (key == "max_memory_bytes") return set_count(&m.max_memory_bytes, key, v, text);
        return unknown(key, "max_concurrent, max_memory_bytes");
      });
  if (!s.ok()) return s;
  return m;
}

absl::StatusOr<std::pair<std::string, ClientLimits>> parse_override(const std::string& spec) {
  const size_t eq = spec.find('=');
  const size_t colon = eq == std::string::npos ? std::string::npos : spec.rfind(':', eq);
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError("\"" + spec + "\" is not CLIENT:key=value,...");
  }
  absl::StatusOr<ClientLimits> l = parse_client_limits(spec.substr(colon + 1));
  if (!l.ok()) return l.status();
  return std::pair<std::string, ClientLimits>{spec.substr(0, colon), *l};
}

std::string to_string(const ClientLimits& l) {
  std::string out;
  auto add = [&out](const char* key, const std::string& v) {
    out += (out.empty() ? "" : ",") + std::string(key) + "=" + v;
  };
  if (l.requests_per_second) add("requests_per_second", text(*l.requests_per_second));
  if (l.burst) add("burst", text(*l.burst));
  if (l.write_bytes_per_second) add("write_bytes_per_second", text(*l.write_bytes_per_second));
  if (l.max_concurrent) add("max_concurrent", std::to_string(*l.max_concurrent));
  if (l.max_memory_bytes) add("max_memory_bytes", std::to_string(*l.max_memory_bytes));
  if (l.max_watchers) add("max_watchers", std::to_string(*l.max_watchers));
  if (l.max_watchers_per_stream) {
    add("max_watchers_per_stream", std::to_string(*l.max_watchers_per_stream));
  }
  if (l.max_leases) add("max_leases", std::to_string(*l.max_leases));
  return out;
}

ClientLimits LimitsConfig::for_client(const std::string& client) const {
  auto it = overrides.find(client);
  if (it == overrides.end()) return defaults;
  const ClientLimits& o = it->second;
  ClientLimits l = defaults;
  if (o.requests_per_second) l.requests_per_second = o.requests_per_second;
  if (o.burst) l.burst = o.burst;
  if (o.write_bytes_per_second) l.write_bytes_per_second = o.write_bytes_per_second;
  if (o.max_concurrent) l.max_concurrent = o.max_concurrent;
  if (o.max_memory_bytes) l.max_memory_bytes = o.max_memory_bytes;
  if (o.max_watchers) l.max_watchers = o.max_watchers;
  if (o.max_watchers_per_stream) l.max_watchers_per_stream = o.max_watchers_per_stream;
  if (o.max_leases) l.max_leases = o.max_leases;
  return l;
}

absl::Status validate(const ClientLimits& l, const std::string& where) {
  const std::string p = where + ".";
  if (auto s = check_rate(l.requests_per_second, p + "requests_per_second", kMaxRate); !s.ok()) {
    return s;
  }
  if (auto s = check_rate(l.burst, p + "burst", kMaxRate); !s.ok()) return s;
  if (auto s = check_rate(l.write_bytes_per_second, p + "write_bytes_per_second", kMaxByteRate);
      !s.ok()) {
    return s;
  }
  if (auto s = check_count(l.max_concurrent, p + "max_concurrent", kMaxConcurrent); !s.ok()) {
    return s;
  }
  if (auto s = check_count(l.max_memory_bytes, p + "max_memory_bytes", kMaxMemoryBytes); !s.ok()) {
    return s;
  }
  if (auto s = check_count(l.max_watchers, p + "max_watchers", kMaxConcurrent); !s.ok()) return s;
  if (auto s = check_count(l.max_leases, p + "max_leases", kMaxConcurrent); !s.ok()) return s;
  if (auto s =
          check_count(l.max_watchers_per_stream, p + "max_watchers_per_stream", kMaxConcurrent);
      !s.ok()) {
    return s;
  }
  if (l.burst.has_value() && !l.requests_per_second.has_value()) {
    return absl::InvalidArgumentError(p + "burst is set without " + p +
                                      "requests_per_second: a burst needs a rate");
  }
  if (l.burst.has_value() && (*l.burst < 1 || *l.burst < *l.requests_per_second)) {
    return absl::InvalidArgumentError(p + "burst " + text(*l.burst) + " is below 1 or below " + p +
                                      "requests_per_second " + text(*l.requests_per_second));
  }
  return absl::OkStatus();
}

absl::Status validate(const LimitsConfig& c) {
  if (auto s = validate(c.defaults, "defaults"); !s.ok()) return s;
  for (const auto& [client, l] : c.overrides) {
    if (client.empty()) return absl::InvalidArgumentError("an override names no client");
    if (auto s = validate(l, "overrides[" + client + "]"); !s.ok()) return s;
    // The merged limits must hold together too (an override's rate above the default burst).
    if (auto s = validate(c.for_client(client), "overrides[" + client + "] with defaults");
        !s.ok()) {
      return s;
    }
  }
  if (auto s = check_count(c.member.max_concurrent, "member.max_concurrent", kMaxConcurrent);
      !s.ok()) {
    return s;
  }
  return check_count(c.member.max_memory_bytes, "member.max_memory_bytes", kMaxMemoryBytes);
}

}  // namespace limits
