package main

import (
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/etcdserverpb"
)

// The append workload (docs/design/chaos.md 4.2): transactions over lists of unique
// integers, each list a key holding comma-separated elements, checked for strict
// serializability by chaos-check's append checker (Elle's list-append).
//
// A txn reads 1-4 keys of a pool in one read-only Txn (atomic at one revision), then, if
// it appends, commits a second Txn that writes list+","+element to some of them, guarded
// by ModRevision(k) == the revision read, for every key read (0: absent). The guard
// holds iff no key changed in between, so a committed txn read exactly what was current
// when it wrote: the two calls are one serializable transaction.
const (
	appendPoolKeys  = 8
	appendMaxList   = 200 // a list this long retires its pool: the next pool starts empty
	appendMaxKeys   = 4
	appendPrefix    = "app/"
	appendRateShare = 3 // a third of --rate, in txns: 20 txn/s beside register's 60 ops/s
)

// MicroOp is one step of a txn; the names are the proto's JSON names.
type MicroOp struct {
	F    string  `json:"f"`
	Key  string  `json:"key"`
	List []int64 `json:"list,omitempty"`
	Elem int64   `json:"elem,omitempty"`
}

// appendTxn is one history line: the common fields and the txn's micro-ops.
type appendTxn struct {
	Op
	Mops []MicroOp `json:"mops"`
}

type appendWorkload struct {
	h       *History
	timeout time.Duration
	mu      sync.Mutex
	pool    int             // the pool new txns use
	used    map[string]bool // every key a txn was sent for
}

func newAppend(h *History, timeout time.Duration) *appendWorkload {
	return &appendWorkload{h: h, timeout: timeout, used: map[string]bool{}}
}

// keys picks 1-4 distinct keys of the current pool and records them as used.
func (a *appendWorkload) keys(rng *rand.Rand) (int, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, i := range rng.Perm(appendPoolKeys)[:1+rng.Intn(appendMaxKeys)] {
		k := fmt.Sprintf("%s%d/%d", appendPrefix, a.pool, i)
		a.used[k] = true
		out = append(out, k)
	}
	return a.pool, out
}

// retire moves new txns to the next pool once a list of `pool` is full (other workers
// may still be finishing txns on it: they only make its lists a little longer).
func (a *appendWorkload) retire(pool int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pool == pool {
		a.pool++
	}
}

// parseList reads a stored list. Elements are positive, so an unreadable one is kept as
// -1, an element nobody wrote, which the checker reports as garbage.
func parseList(key string, v []byte) ([]int64, string) {
	if len(v) == 0 {
		return nil, ""
	}
	var out []int64
	bad := ""
	for _, s := range strings.Split(string(v), ",") {
		e, err := strconv.ParseInt(s, 10, 64)
		if err != nil || e <= 0 {
			e = -1
			bad = fmt.Sprintf("%s holds %q, which is not a list of positive integers", key, v)
		}
		out = append(out, e)
	}
	return out, bad
}

func joinList(list []int64, e int64) string {
	var b strings.Builder
	for _, x := range list {
		b.WriteString(strconv.FormatInt(x, 10))
		b.WriteByte(',')
	}
	b.WriteString(strconv.FormatInt(e, 10))
	return b.String()
}

func (a *appendWorkload) Worker(w int, ep string, c *clientv3.Client, rng *rand.Rand,
	interval time.Duration, stop <-chan struct{}) {
	seq := 0
	for pace(rng, interval*appendRateShare, stop) {
		pool, keys := a.keys(rng)
		// A quarter of the txns only read; the others append to about half their keys
		// (at least one), one element per key.
		appendTo := make([]bool, len(keys))
		if rng.Intn(4) != 0 {
			appendTo[rng.Intn(len(keys))] = true
			for i := range keys {
				appendTo[i] = appendTo[i] || rng.Intn(2) == 0
			}
		}
		txn := appendTxn{Op: Op{Op: a.h.id(), Wl: "append", W: w, Ep: ep, F: "txn"}}
		var appends []MicroOp
		for i, k := range keys {
			if appendTo[i] {
				seq++
				appends = append(appends, MicroOp{F: "append", Key: k, Elem: int64(w)*1000000 +
					int64(seq)})
			}
		}

		gets := make([]clientv3.Op, len(keys))
		for i, k := range keys {
			gets[i] = clientv3.OpGet(k)
		}
		ctx, cancel := withTimeout(a.timeout)
		txn.T0 = monotonic()
		read, err := c.Txn(ctx).Then(gets...).Commit()
		txn.T1 = monotonic()
		cancel()
		if err != nil {
			// Nothing was written: the txn failed whatever it meant to append.
			txn.Res, txn.Err = outcome(err, false), err.Error()
			for _, k := range keys {
				txn.Mops = append(txn.Mops, MicroOp{F: "r", Key: k})
			}
			txn.Mops = append(txn.Mops, appends...)
			a.h.write(txn)
			continue
		}
		lists := make([][]int64, len(keys))
		var guards []clientv3.Cmp
		full := false
		for i, k := range keys {
			var modRev int64
			var got *etcdserverpb.RangeResponse
			if i < len(read.Responses) {
				got = read.Responses[i].GetResponseRange()
			}
			if got == nil {
				// The server answered a get with something else (or nothing): the read is
				// recorded as an element nobody appended, which the checker reports.
				lists[i] = []int64{-1}
				txn.Err = fmt.Sprintf("the txn's response %d (the get of %s) is not a range "+
					"response: %d responses", i, k, len(read.Responses))
			} else if kvs := got.Kvs; len(kvs) > 0 {
				var bad string
				lists[i], bad = parseList(k, kvs[0].Value)
				if bad != "" {
					txn.Err = bad
				}
				modRev = kvs[0].ModRevision
			}
			full = full || len(lists[i]) >= appendMaxList
			guards = append(guards, clientv3.Compare(clientv3.ModRevision(k), "=", modRev))
			txn.Mops = append(txn.Mops, MicroOp{F: "r", Key: k, List: lists[i]})
		}
		if full {
			a.retire(pool)
		}
		txn.Res, txn.Rev = "ok", read.Header.Revision
		if len(appends) == 0 {
			a.h.write(txn)
			continue
		}

		var puts []clientv3.Op
		for _, m := range appends {
			for i, k := range keys {
				if k == m.Key {
					puts = append(puts, clientv3.OpPut(k, joinList(lists[i], m.Elem)))
				}
			}
		}
		txn.Mops = append(txn.Mops, appends...)
		ctx, cancel = withTimeout(a.timeout)
		wrote, err := c.Txn(ctx).If(guards...).Then(puts...).Commit()
		txn.T1 = monotonic()
		cancel()
		txn.Rev = 0
		switch {
		case err != nil:
			// The appends may or may not exist; what was read no longer says anything.
			txn.Res, txn.Err = outcome(err, true), err.Error()
		case !wrote.Succeeded:
			// A key changed after the read: nothing was written.
			txn.Res, txn.Rev = "fail", wrote.Header.Revision
		default:
			txn.Succeeded, txn.Rev = true, wrote.Header.Revision
		}
		a.h.write(txn)
	}
}

// Final reads every list in one linearizable range read, on any member that answers, and
// records one read-only txn per key, all with the same interval.
func (a *appendWorkload) Final(eps []Endpoint, within time.Duration) {
	a.mu.Lock()
	used := map[string]bool{}
	for k := range a.used {
		used[k] = true
	}
	a.mu.Unlock()
	if len(used) == 0 {
		return
	}
	deadline := time.Now().Add(within)
	if resp, ep, t0, t1 := finalGet(eps, deadline, a.timeout, appendPrefix); resp != nil {
		values := map[string][]byte{}
		for _, kv := range resp.Kvs {
			values[string(kv.Key)] = kv.Value
			used[string(kv.Key)] = true
		}
		keys := make([]string, 0, len(used))
		for k := range used {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			list, bad := parseList(k, values[k])
			a.h.write(appendTxn{
				Op: Op{Op: a.h.id(), Wl: "append", W: -1, Ep: ep.Name, F: "txn", T0: t0, T1: t1,
					Res: "ok", Rev: resp.Header.Revision, Err: bad, Final: true},
				Mops: []MicroOp{{F: "r", Key: k, List: list}}})
		}
		return
	}
	a.h.write(appendTxn{Op: Op{Op: a.h.id(), Wl: "append", W: -1, F: "txn", Key: appendPrefix,
		Res: "fail", Err: "no member answered the final read within " + within.String(),
		Final: true}})
}
