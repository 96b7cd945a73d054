package main

import (
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

// The register workload: reads, writes and compare-and-swaps on three keys at a time.
// The keys change every opsPerGroup operations, which bounds each key's history (what
// the linearizability search costs) however long the run.
const (
	keysPerGroup = 3
	opsPerGroup  = 600
	prefix       = "reg/"
)

type register struct {
	h       *History
	timeout time.Duration
	mu      sync.Mutex
	ops     int64
	used    map[string]bool
}

func newRegister(h *History, timeout time.Duration) *register {
	return &register{h: h, timeout: timeout, used: map[string]bool{}}
}

// key picks the key of the next operation and counts it.
func (r *register) key(rng *rand.Rand) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	group := r.ops / opsPerGroup
	r.ops++
	k := fmt.Sprintf("%s%d/%d", prefix, group, rng.Intn(keysPerGroup))
	r.used[k] = true
	return k
}

func (r *register) Worker(w int, ep string, c *clientv3.Client, rng *rand.Rand,
	interval time.Duration, stop <-chan struct{}) {
	seq := 0
	last := map[string]string{} // the value this worker last read or wrote, per key
	for pace(rng, interval, stop) {
		k := r.key(rng)
		op := Op{Op: r.h.id(), Wl: "register", W: w, Ep: ep, Key: k}
		seq++
		switch p := rng.Intn(4); {
		case p < 2:
			op.F = "read"
			ctx, cancel := withTimeout(r.timeout)
			op.T0 = monotonic()
			resp, err := c.Get(ctx, k)
			op.T1 = monotonic()
			cancel()
			op.Res = outcome(err, false)
			if err != nil {
				op.Err = err.Error()
			} else {
				op.Rev = resp.Header.Revision
				if len(resp.Kvs) > 0 {
					op.Found, op.Value = true, string(resp.Kvs[0].Value)
					last[k] = op.Value
				}
			}
		case p == 2:
			op.F = "write"
			op.Value = fmt.Sprintf("%d", w*1000000+seq)
			ctx, cancel := withTimeout(r.timeout)
			op.T0 = monotonic()
			resp, err := c.Put(ctx, k, op.Value)
			op.T1 = monotonic()
			cancel()
			op.Res = outcome(err, true)
			if err != nil {
				op.Err = err.Error()
			} else {
				op.Rev = resp.Header.Revision
				last[k] = op.Value
			}
		default:
			op.F = "cas"
			op.Expect = last[k]
			if op.Expect == "" {
				op.Expect = "0" // never written: the compare fails, which is a valid history too
			}
			op.Value = fmt.Sprintf("%d", w*1000000+seq)
			ctx, cancel := withTimeout(r.timeout)
			op.T0 = monotonic()
			resp, err := c.Txn(ctx).
				If(clientv3.Compare(clientv3.Value(k), "=", op.Expect)).
				Then(clientv3.OpPut(k, op.Value)).Commit()
			op.T1 = monotonic()
			cancel()
			op.Res = outcome(err, true)
			if err != nil {
				op.Err = err.Error()
			} else {
				op.Rev = resp.Header.Revision
				op.Succeeded = resp.Succeeded
				if resp.Succeeded {
					last[k] = op.Value
				}
			}
		}
		r.h.write(op)
	}
}

// Final reads every key used, in one linearizable range read, on any member that
// answers: one read per key, all with the same interval.
func (r *register) Final(eps []Endpoint, within time.Duration) {
	r.mu.Lock()
	keys := make([]string, 0, len(r.used))
	for k := range r.used {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	sort.Strings(keys)
	if len(keys) == 0 {
		return
	}
	deadline := time.Now().Add(within)
	if resp, ep, t0, t1 := finalGet(eps, deadline, r.timeout, prefix); resp != nil {
		values := map[string]string{}
		for _, kv := range resp.Kvs {
			values[string(kv.Key)] = string(kv.Value)
		}
		for _, k := range keys {
			v, found := values[k]
			r.h.write(Op{Op: r.h.id(), Wl: "register", W: -1, Ep: ep.Name, F: "read", Key: k,
				Value: v, Found: found, T0: t0, T1: t1, Res: "ok", Rev: resp.Header.Revision,
				Final: true})
		}
		return
	}
	r.h.write(Op{Op: r.h.id(), Wl: "register", W: -1, F: "read", Key: prefix, Res: "fail",
		Err: "no member answered the final read within " + within.String(), Final: true})
}
