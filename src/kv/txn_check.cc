#include "kv/txn_check.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "kv/errors.h"
#include "kv/key_range.h"
#include "kv/store.h"

namespace kv {

Status validate_put(const PutRequest& req) {
  if (req.key.empty()) return errors::empty_key();
  if (req.ignore_value && !req.value.empty()) return errors::value_provided();
  if (req.ignore_lease && req.lease != 0) return errors::lease_provided();
  return Status::ok();
}

namespace {

Status validate_ops(const std::vector<RequestOp>& ops, int64_t max_txn_ops);

Status validate_one(const TxnRequest& req, int64_t max_txn_ops) {
  const auto max = static_cast<size_t>(std::max<int64_t>(max_txn_ops, 0));
  if (req.compare.size() > max || req.success.size() > max || req.failure.size() > max) {
    return errors::too_many_ops();
  }
  for (const Compare& c : req.compare) {
    if (c.key.empty()) return errors::empty_key();
    // etcd 3.4 compares an unknown target as if it were equal; raftkv refuses it.
    const int target = static_cast<int>(c.target), result = static_cast<int>(c.result);
    if (target < static_cast<int>(Compare::Target::kVersion) ||
        target > static_cast<int>(Compare::Target::kLease)) {
      return errors::bad_compare_target(target);
    }
    if (result < static_cast<int>(Compare::Result::kEqual) ||
        result > static_cast<int>(Compare::Result::kNotEqual)) {
      return errors::bad_compare_result(result);
    }
  }
  if (Status s = validate_ops(req.success, max_txn_ops); !s.is_ok()) return s;
  return validate_ops(req.failure, max_txn_ops);
}

Status validate_ops(const std::vector<RequestOp>& ops, int64_t max_txn_ops) {
  for (const RequestOp& op : ops) {
    Status s;
    if (auto* r = std::get_if<RangeRequest>(&op.request)) {
      if (r->key.empty()) s = errors::empty_key();
    } else if (auto* p = std::get_if<PutRequest>(&op.request)) {
      s = validate_put(*p);
    } else if (auto* d = std::get_if<DeleteRangeRequest>(&op.request)) {
      if (d->key.empty()) s = errors::empty_key();
    } else if (auto* t = std::get_if<std::shared_ptr<TxnRequest>>(&op.request)) {
      if (*t) s = validate_one(**t, max_txn_ops);
    }
    if (!s.is_ok()) return s;
  }
  return Status::ok();
}

bool hits(const std::vector<KeyRange>& dels, const std::string& key) {
  return std::any_of(dels.begin(), dels.end(), [&](const KeyRange& r) { return r.contains(key); });
}

// The keys put and ranges deleted by one branch (nested txns included), refusing a key
// written twice: etcd's checkIntervals. Overlapping deletes are allowed, as in etcd.
Status collect_writes(const std::vector<RequestOp>& ops, std::set<std::string>& puts,
                      std::vector<KeyRange>& dels) {
  for (const RequestOp& op : ops) {
    if (auto* d = std::get_if<DeleteRangeRequest>(&op.request)) {
      dels.emplace_back(d->key, d->range_end);
    }
  }
  for (const RequestOp& op : ops) {
    auto* t = std::get_if<std::shared_ptr<TxnRequest>>(&op.request);
    if (t == nullptr || !*t) continue;
    std::set<std::string> puts_then, puts_else;
    std::vector<KeyRange> dels_then, dels_else;
    if (Status s = collect_writes((*t)->success, puts_then, dels_then); !s.is_ok()) return s;
    if (Status s = collect_writes((*t)->failure, puts_else, dels_else); !s.is_ok()) return s;
    for (const std::string& k : puts_then) {
      if (puts.count(k) != 0 || hits(dels, k)) return errors::duplicate_key();
      puts.insert(k);
    }
    for (const std::string& k : puts_else) {
      // then and else exclude each other: the same key in both is fine.
      if (puts.count(k) != 0 && puts_then.count(k) == 0) return errors::duplicate_key();
      if (hits(dels, k)) return errors::duplicate_key();
      puts.insert(k);
    }
    dels.insert(dels.end(), dels_then.begin(), dels_then.end());
    dels.insert(dels.end(), dels_else.begin(), dels_else.end());
  }
  for (const RequestOp& op : ops) {
    auto* p = std::get_if<PutRequest>(&op.request);
    if (p == nullptr) continue;
    if (puts.count(p->key) != 0 || hits(dels, p->key)) return errors::duplicate_key();
    puts.insert(p->key);
  }
  return Status::ok();
}

int64_t ops_cost(const std::vector<RequestOp>& ops) {
  int64_t cost = 0;
  for (const RequestOp& op : ops) {
    if (auto* p = std::get_if<PutRequest>(&op.request)) {
      cost += static_cast<int64_t>(p->key.size() + p->value.size()) + kRevisionOverheadBytes;
    } else if (auto* t = std::get_if<std::shared_ptr<TxnRequest>>(&op.request)) {
      if (*t) cost += txn_put_cost(**t);
    }
  }
  return cost;
}

}  // namespace

Status validate_txn(const TxnRequest& req, int64_t max_txn_ops) {
  if (Status s = validate_one(req, max_txn_ops); !s.is_ok()) return s;
  for (const auto* branch : {&req.success, &req.failure}) {
    std::set<std::string> puts;
    std::vector<KeyRange> dels;
    if (Status s = collect_writes(*branch, puts, dels); !s.is_ok()) return s;
  }
  return Status::ok();
}

int64_t txn_put_cost(const TxnRequest& req) {
  return std::max(ops_cost(req.success), ops_cost(req.failure));
}

}  // namespace kv
