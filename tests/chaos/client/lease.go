package main

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

// The lease workload (docs/design/chaos.md 4.4): each lease is granted, given one to
// three keys, kept alive with KeepAliveOnce for 2-20 s, then revoked or left to expire,
// while a reader polls its keys. Every grant and keepalive records when it was sent and
// the TTL the server promised, so the checker knows when the keys must still be there
// (not early) and, after the final heal, when they must be gone. A watcher on lease/
// records the deletions (all keys of a lease go at one revision).
const (
	leasePrefix      = "lease/"
	leaseOpsPerGrant = 60 // one grant a second at the default 60 operations a second
	leaseKeepMin     = 2 * time.Second
	leaseKeepMax     = 20 * time.Second
	leasePoll        = 300 * time.Millisecond
	leasePollAfter   = 5 * time.Second // the reader reads on this long after keys should go
	// L3's slack after a lease's latest possible expiry: two election timeouts (the
	// harness runs both servers with 1 s) and 3 s for the revoke to be applied.
	leaseExpirySlack = 2*time.Second + 3*time.Second
)

var leaseTTLs = []int64{5, 8} // above both servers' minimum TTL at a 1 s election timeout

// leaseOp is a history line with the lease workload's fields.
type leaseOp struct {
	Op
	Lease    int64    `json:"lease,omitempty"`
	AskedTTL int64    `json:"askedTtl,omitempty"`
	TTL      int64    `json:"ttl,omitempty"`
	Keys     []string `json:"keys,omitempty"`
}

type leaseWorkload struct {
	h       *History
	timeout time.Duration
	eps     []Endpoint
	quit    chan struct{} // closed by Final: the lease watcher stops
	running sync.WaitGroup

	mu      sync.Mutex
	watcher *watcher
	granted []*grantedLease
}

type grantedLease struct {
	id  int64
	ttl int64 // what the server granted, seconds
	// The latest time (CLOCK_MONOTONIC ns) the server may have (re)started its TTL: the
	// return of the grant or of any keepalive, acknowledged or not.
	latest int64
}

func newLease(h *History, timeout time.Duration, eps []Endpoint) *leaseWorkload {
	return &leaseWorkload{h: h, timeout: timeout, eps: eps, quit: make(chan struct{})}
}

func leaseKeys(id int64) string { return fmt.Sprintf("%s%d/", leasePrefix, id) }

// Worker grants a lease every leaseOpsPerGrant*interval (about) and lives each one out
// in its own goroutine; it returns once every lease it granted has stopped being kept
// alive and its reader has stopped. The first worker starts the lease watcher.
func (l *leaseWorkload) Worker(w int, ep string, c *clientv3.Client, rng *rand.Rand,
	interval time.Duration, stop <-chan struct{}) {
	if w%1000 == 0 {
		wt := newWatcher(l.h, "lease", int64(w), leasePrefix, l.eps, ep,
			rand.New(rand.NewSource(rng.Int63())))
		l.mu.Lock()
		l.watcher = wt
		l.mu.Unlock()
		l.running.Add(1)
		go func() {
			defer l.running.Done()
			wt.run(l.quit)
		}()
	}
	var lives sync.WaitGroup
	for pace(rng, leaseOpsPerGrant*interval, stop) {
		lives.Add(1)
		go func(seed int64) {
			defer lives.Done()
			l.life(w, ep, c, rand.New(rand.NewSource(seed)), stop)
		}(rng.Int63())
	}
	lives.Wait()
}

func (l *leaseWorkload) op(w int, ep, f string, id int64) leaseOp {
	return leaseOp{Op: Op{Op: l.h.id(), Wl: "lease", W: w, Ep: ep, F: f}, Lease: id}
}

// life is one lease from its grant to its revoke or expiry (or the end of the run).
func (l *leaseWorkload) life(w int, ep string, c *clientv3.Client, rng *rand.Rand,
	stop <-chan struct{}) {
	grant := l.op(w, ep, "grant", 0)
	grant.AskedTTL = leaseTTLs[rng.Intn(len(leaseTTLs))]
	ctx, cancel := withTimeout(l.timeout)
	grant.T0 = monotonic()
	resp, err := c.Grant(ctx, grant.AskedTTL)
	grant.T1 = monotonic()
	cancel()
	grant.Res = outcome(err, true)
	if err != nil {
		grant.Err = err.Error()
		l.h.write(grant)
		return
	}
	id := int64(resp.ID)
	grant.Lease, grant.TTL, grant.Rev = id, resp.TTL, resp.Revision
	l.h.write(grant)
	lease := &grantedLease{id: id, ttl: resp.TTL, latest: grant.T1}
	l.mu.Lock()
	l.granted = append(l.granted, lease)
	l.mu.Unlock()
	promise := grant.T0 + resp.TTL*int64(time.Second) // P(L) of the design

	for k, n := 0, 1+rng.Intn(3); k < n; k++ {
		l.put(w, ep, c, id, fmt.Sprintf("%sk%d", leaseKeys(id), k), rng)
	}

	// The reader polls until leasePollAfter past the time it is told the keys go.
	gone := make(chan int64, 1)
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		end := int64(math.MaxInt64)
		for monotonic() < end {
			select {
			case <-stop:
				return
			case t := <-gone:
				end = t + int64(leasePollAfter)
			case <-time.After(leasePoll):
			}
			l.read(w, ep, c, id)
		}
	}()
	defer reader.Wait()

	every := time.Duration(resp.TTL) * time.Second / 3
	for until := time.Now().Add(leaseKeepMin +
		time.Duration(rng.Int63n(int64(leaseKeepMax-leaseKeepMin)))); time.Now().Before(until); {
		select {
		case <-stop:
			return // the lease expires; Final checks its keys go
		case <-time.After(every):
		}
		ka := l.op(w, ep, "keepalive", id)
		ctx, cancel := withTimeout(l.timeout)
		ka.T0 = monotonic()
		kresp, err := c.KeepAliveOnce(ctx, clientv3.LeaseID(id))
		ka.T1 = monotonic()
		cancel()
		ka.Res = outcome(err, true)
		l.mu.Lock()
		lease.latest = ka.T1
		l.mu.Unlock()
		if err != nil {
			ka.Err = err.Error()
		} else {
			ka.TTL, ka.Rev = kresp.TTL, kresp.Revision
			if p := ka.T0 + kresp.TTL*int64(time.Second); p > promise {
				promise = p
			}
		}
		l.h.write(ka)
		if err != nil && strings.Contains(err.Error(), "requested lease not found") {
			break
		}
	}

	select {
	case <-stop:
		return
	default:
	}
	if rng.Intn(2) == 0 {
		rv := l.op(w, ep, "revoke", id)
		ctx, cancel := withTimeout(l.timeout)
		rv.T0 = monotonic()
		rresp, err := c.Revoke(ctx, clientv3.LeaseID(id))
		rv.T1 = monotonic()
		cancel()
		rv.Res = outcome(err, true)
		if err != nil {
			rv.Err = err.Error()
		} else {
			rv.Rev = rresp.Header.Revision
		}
		l.h.write(rv)
		if err == nil {
			// A put with the revoked lease must fail (L5).
			l.put(w, ep, c, id, leaseKeys(id)+"late", rng)
			promise = rv.T1
		}
	}
	gone <- promise
}

func (l *leaseWorkload) put(w int, ep string, c *clientv3.Client, id int64, key string,
	rng *rand.Rand) {
	op := l.op(w, ep, "put", id)
	op.Key, op.Value = key, fmt.Sprintf("%d", rng.Int63())
	ctx, cancel := withTimeout(l.timeout)
	op.T0 = monotonic()
	resp, err := c.Put(ctx, key, op.Value, clientv3.WithLease(clientv3.LeaseID(id)))
	op.T1 = monotonic()
	cancel()
	op.Res = outcome(err, true)
	if err != nil {
		op.Err = err.Error()
	} else {
		op.Rev = resp.Header.Revision
	}
	l.h.write(op)
}

// read reads every key of the lease (linearizable).
func (l *leaseWorkload) read(w int, ep string, c *clientv3.Client, id int64) {
	op := l.op(w, ep, "read", id)
	op.Key = leaseKeys(id)
	ctx, cancel := withTimeout(l.timeout)
	op.T0 = monotonic()
	resp, err := c.Get(ctx, op.Key, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	op.T1 = monotonic()
	cancel()
	op.Res = outcome(err, false)
	if err != nil {
		op.Err = err.Error()
	} else {
		op.Rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			op.Keys = append(op.Keys, string(kv.Key))
		}
	}
	l.h.write(op)
}

// Final marks the heal, waits until the keys of every lease must be gone (L3: its latest
// possible expiry, or the heal plus its TTL when a leader elected during the faults
// restarted its TTL, plus leaseExpirySlack), then reads lease/ once on any member that
// answers and writes one final read per lease.
func (l *leaseWorkload) Final(eps []Endpoint, within time.Duration) {
	defer func() {
		close(l.quit)
		l.running.Wait()
		if l.watcher != nil {
			l.watcher.close()
		}
	}()
	heal := l.op(-1, "", "heal", 0)
	heal.T0 = monotonic()
	heal.T1, heal.Res, heal.Final = heal.T0, "ok", true
	l.h.write(heal)
	deadline := time.Now().Add(within)
	l.mu.Lock()
	granted := append([]*grantedLease(nil), l.granted...)
	l.mu.Unlock()
	if len(granted) == 0 {
		return
	}
	var gone int64
	for _, g := range granted {
		t := g.latest
		if h := heal.T0; h > t {
			t = h
		}
		if t += g.ttl*int64(time.Second) + int64(leaseExpirySlack); t > gone {
			gone = t
		}
	}
	if wait := time.Duration(gone - monotonic() + int64(200*time.Millisecond)); wait > 0 {
		if wait > within {
			wait = within
		}
		time.Sleep(wait)
	}
	if resp, ep, t0, t1 := finalGet(eps, deadline, l.timeout, leasePrefix, clientv3.WithKeysOnly()); resp != nil {
		found := map[int64][]string{}
		for _, kv := range resp.Kvs {
			var id int64
			if _, err := fmt.Sscanf(strings.TrimPrefix(string(kv.Key), leasePrefix), "%d/",
				&id); err == nil {
				found[id] = append(found[id], string(kv.Key))
			}
		}
		for _, g := range granted {
			op := l.op(-1, ep.Name, "read", g.id)
			op.Key, op.Keys, op.T0, op.T1 = leaseKeys(g.id), found[g.id], t0, t1
			op.Res, op.Rev, op.Final = "ok", resp.Header.Revision, true
			l.h.write(op)
		}
		// The keys went long before this read: a second is plenty for the lease watcher
		// to deliver the last deletions (L4) before it stops.
		time.Sleep(time.Second)
		return
	}
	l.h.write(leaseOp{Op: Op{Op: l.h.id(), Wl: "lease", W: -1, F: "read", Key: leasePrefix,
		Res: "fail", Final: true,
		Err: "no member answered the final read within " + within.String()}})
}
