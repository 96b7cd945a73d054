// LockTable: applying lock commands, and the table's snapshot.
#include "lock_service/lock_table.h"

#include <charconv>
#include <vector>

namespace lock_service {

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  while (!line.empty()) {
    const size_t end = line.find(' ');
    words.push_back(line.substr(0, end));
    if (end == std::string_view::npos) break;
    line.remove_prefix(end + 1);
  }
  return words;
}

std::optional<uint64_t> parse_number(std::string_view word) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  if (ec != std::errc() || end != word.data() + word.size()) return std::nullopt;
  return v;
}

namespace {

std::string n(uint64_t v) { return std::to_string(v); }

// Names and owners are printable ASCII without spaces: a newline in a name would cut the
// snapshot's line in two, and every replica would then refuse the snapshot.
bool is_word(std::string_view w) {
  if (w.empty()) return false;
  for (char c : w) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

std::string LockTable::apply(raft::LogIndex index, std::string_view command) {
  const std::vector<std::string_view> w = split_words(command);
  if (w.size() != 4 || !is_word(w[1]) || !is_word(w[2])) {
    return "error: expected <verb> <name> <word> <number> (printable, no spaces), got \"" +
           std::string(command) + "\"";
  }
  const std::string name(w[1]);
  const std::optional<uint64_t> number = parse_number(w[3]);
  if (!number.has_value()) return "error: \"" + std::string(w[3]) + "\" is not a number";
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = locks_.find(name);
  const bool held = it != locks_.end();

  if (w[0] == "acquire") {
    if (*number == 0) return "error: ttl_ms must be above 0";
    if (held && it->second.owner != w[2]) {
      return "held " + it->second.owner + " " + n(it->second.token);
    }
    if (held) {  // the owner asks again: its lease restarts, its token stays
      it->second.ttl_ms = *number;
      it->second.stamp = index.value();
      return "granted " + n(it->second.token);
    }
    locks_[name] = Lock{.owner = std::string(w[2]),
                        .token = index.value(),
                        .ttl_ms = *number,
                        .stamp = index.value()};
    return "granted " + n(index.value());
  }
  if (w[0] == "renew" || w[0] == "release") {
    // Only the holder of this grant (owner and token) may renew or release it: an owner
    // whose lease expired and whose lock went to another must not touch the new grant.
    if (!held || it->second.owner != w[2] || it->second.token != *number) return "lost";
    if (w[0] == "release") {
      locks_.erase(it);
      return "released";
    }
    it->second.stamp = index.value();
    return "renewed " + n(it->second.token);
  }
  if (w[0] == "expire") {
    // The leader timed the lease of one renewal (the stamp). A renew that committed
    // before this command has moved the stamp: then the lease is alive and stays.
    const std::optional<uint64_t> token = parse_number(w[2]);
    if (!token.has_value()) return "error: \"" + std::string(w[2]) + "\" is not a number";
    if (!held || it->second.token != *token || it->second.stamp != *number) return "stale";
    locks_.erase(it);
    return "expired";
  }
  return "error: unknown verb \"" + std::string(w[0]) + "\"";
}

std::string LockTable::snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "lock-table 1\n";
  for (const auto& [name, l] : locks_) {
    out += name + " " + l.owner + " " + n(l.token) + " " + n(l.ttl_ms) + " " + n(l.stamp) + "\n";
  }
  return out + "end " + n(locks_.size()) + "\n";
}

absl::Status LockTable::restore(std::string_view data) {
  // Everything is read into a new table first; the live one changes only at the end.
  std::map<std::string, Lock> table;
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < data.size();) {
    const size_t end = data.find('\n', start);
    if (end == std::string_view::npos) return absl::DataLossError("the last line has no newline");
    lines.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  if (lines.size() < 2 || lines.front() != "lock-table 1") {
    return absl::InvalidArgumentError("not a lock table: expected \"lock-table 1\" first");
  }
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    const std::vector<std::string_view> w = split_words(lines[i]);
    const auto number = [&w](size_t k) { return parse_number(w[k]).value_or(0); };
    // 0 is never a token (log indexes start at 1) nor a TTL: it stands for a bad number.
    if (w.size() != 5 || !is_word(w[0]) || !is_word(w[1]) || number(2) == 0 || number(3) == 0 ||
        number(4) < number(2)) {
      return absl::InvalidArgumentError("line " + n(i + 1) + " is not a valid lock: \"" +
                                        std::string(lines[i]) + "\"");
    }
    const auto [_, fresh] = table.emplace(std::string(w[0]), Lock{.owner = std::string(w[1]),
                                                                  .token = number(2),
                                                                  .ttl_ms = number(3),
                                                                  .stamp = number(4)});
    if (!fresh) return absl::InvalidArgumentError("lock " + std::string(w[0]) + " appears twice");
  }
  if (lines.back() != "end " + n(table.size())) {
    return absl::DataLossError("expected \"end " + n(table.size()) + "\" last, got \"" +
                               std::string(lines.back()) + "\"");
  }
  std::lock_guard<std::mutex> lock(mu_);
  locks_ = std::move(table);
  return absl::OkStatus();
}

void LockTable::on_leadership(bool leader, raft::Term term) {
  std::lock_guard<std::mutex> lock(mu_);
  leading_term_ = leader ? term : raft::Term();
}

std::optional<Lock> LockTable::find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = locks_.find(name);
  if (it == locks_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, Lock> LockTable::locks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return locks_;
}

raft::Term LockTable::leading_term() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leading_term_;
}

}  // namespace lock_service
