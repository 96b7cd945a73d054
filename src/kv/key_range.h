// The key interval named by etcd's (key, range_end) pair, used by Range, DeleteRange,
// Compare, Watch and the duplicate-key check of Txn. Callers walk the ordered index from
// begin() while before_end() holds.
#pragma once

#include <string>
#include <string_view>

namespace kv {

// range_end empty: the single key `key`; range_end == "\0": every key >= key;
// otherwise the half-open interval [key, range_end), empty when range_end <= key.
class KeyRange {
 public:
  KeyRange() = default;
  KeyRange(std::string_view key, std::string_view range_end)
      : begin_(key),
        end_(range_end),
        single_(range_end.empty()),
        unbounded_(range_end.size() == 1 && range_end[0] == '\0') {}

  const std::string& begin() const { return begin_; }
  bool single() const { return single_; }  // the one key begin()

  // Whether `k` lies at or before the end (callers iterate from begin()).
  bool before_end(std::string_view k) const {
    if (single_) return k == begin_;
    if (unbounded_) return true;
    return k < end_;
  }
  bool contains(std::string_view k) const { return k >= begin_ && before_end(k); }

 private:
  std::string begin_;
  std::string end_;         // meaningful only when !single_ && !unbounded_
  bool single_ = true;      // range_end was empty
  bool unbounded_ = false;  // range_end was "\0"
};

}  // namespace kv
