package main

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

// The watch workload (docs/design/chaos.md 4.3): two writers put and delete ten keys, a
// compactor compacts the store every 10 s, and two watchers per member follow the
// prefix for the whole run, reopening on another member now and then, each time from
// the revision after the last event they recorded. The checker holds each watcher's
// events, across its reopens, to the writes the writers were acknowledged.
const (
	watchPrefix    = "w/"
	watchKeys      = 10
	watchFinalKey  = "w/final"
	watchWriters   = 2
	compactEvery   = 10 * time.Second
	compactKeep    = 300              // revisions kept behind the newest
	watchFinalWait = 30 * time.Second // every watcher must deliver the final put by then
)

// WatchEvent is one event of a watch response (the proto's WatchEvent).
type WatchEvent struct {
	Type      string `json:"type"`
	Key       string `json:"key"`
	Value     string `json:"value,omitempty"`
	ModRev    int64  `json:"modRev"`
	CreateRev int64  `json:"createRev,omitempty"`
	Version   int64  `json:"version,omitempty"`
}

// watchOp is a history line with the watch workload's fields.
type watchOp struct {
	Op
	Watcher    int64        `json:"watcher,omitempty"`
	Start      int64        `json:"start,omitempty"`
	Events     []WatchEvent `json:"events,omitempty"`
	CompactRev int64        `json:"compactRev,omitempty"`
	Deleted    int64        `json:"deleted,omitempty"`
}

type watchWorkload struct {
	h        *History
	timeout  time.Duration
	eps      []Endpoint
	interval time.Duration // between one writer's writes
	quit     chan struct{} // closed by Final: the watchers stop
	mu       sync.Mutex
	watchers []*watcher
	running  sync.WaitGroup
}

// newWatch: rate is the client's --rate; the writers write rate/3 times a second in all
// (20 at the default 60), as the design says.
func newWatch(h *History, timeout time.Duration, eps []Endpoint, rate float64) *watchWorkload {
	return &watchWorkload{h: h, timeout: timeout, eps: eps,
		interval: time.Duration(float64(time.Second) * watchWriters * 3 / rate),
		quit:     make(chan struct{})}
}

// Worker starts a watcher, which outlives the worker (Final ends it); the first two
// workers also write, and the first compacts.
func (wl *watchWorkload) Worker(w int, ep string, c *clientv3.Client, rng *rand.Rand,
	interval time.Duration, stop <-chan struct{}) {
	wt := newWatcher(wl.h, "watch", int64(w), watchPrefix, wl.eps, ep,
		rand.New(rand.NewSource(rng.Int63())))
	wl.mu.Lock()
	wl.watchers = append(wl.watchers, wt)
	wl.mu.Unlock()
	wl.running.Add(1)
	go func() {
		defer wl.running.Done()
		wt.run(wl.quit)
	}()

	var compactor sync.WaitGroup
	if w%1000 == 0 {
		compactor.Add(1)
		go func() {
			defer compactor.Done()
			wl.compact(w, ep, c, stop)
		}()
	}
	if w%1000 < watchWriters {
		wl.write(w, ep, c, rng, stop)
	}
	<-stop
	compactor.Wait()
}

// write puts unique values (80%) and deletes (20%) on w/0..w/9 until stop.
func (wl *watchWorkload) write(w int, ep string, c *clientv3.Client, rng *rand.Rand,
	stop <-chan struct{}) {
	seq := 0
	for pace(rng, wl.interval, stop) {
		seq++
		op := watchOp{Op: Op{Op: wl.h.id(), Wl: "watch", W: w, Ep: ep,
			Key: fmt.Sprintf("%s%d", watchPrefix, rng.Intn(watchKeys))}}
		ctx, cancel := withTimeout(wl.timeout)
		if rng.Intn(5) == 0 {
			op.F = "delete"
			op.T0 = monotonic()
			resp, err := c.Delete(ctx, op.Key)
			op.T1 = monotonic()
			op.Res = outcome(err, true)
			if err != nil {
				op.Err = err.Error()
			} else {
				op.Rev, op.Deleted = resp.Header.Revision, resp.Deleted
			}
		} else {
			op.F = "put"
			op.Value = fmt.Sprintf("%d", w*1000000+seq)
			op.T0 = monotonic()
			resp, err := c.Put(ctx, op.Key, op.Value)
			op.T1 = monotonic()
			op.Res = outcome(err, true)
			if err != nil {
				op.Err = err.Error()
			} else {
				op.Rev = resp.Header.Revision
			}
		}
		cancel()
		wl.h.write(op)
	}
}

// compact compacts the store to compactKeep revisions behind the newest every
// compactEvery, until stop: watchers that fall that far behind get ErrCompacted.
func (wl *watchWorkload) compact(w int, ep string, c *clientv3.Client, stop <-chan struct{}) {
	var done int64
	for {
		select {
		case <-stop:
			return
		case <-time.After(compactEvery):
		}
		ctx, cancel := withTimeout(wl.timeout)
		resp, err := c.Get(ctx, watchPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil || resp.Header.Revision-compactKeep <= done {
			continue
		}
		op := watchOp{Op: Op{Op: wl.h.id(), Wl: "watch", W: w, Ep: ep, F: "compact"},
			CompactRev: resp.Header.Revision - compactKeep}
		ctx, cancel = withTimeout(wl.timeout)
		op.T0 = monotonic()
		cresp, err := c.Compact(ctx, op.CompactRev)
		op.T1 = monotonic()
		cancel()
		op.Res = outcome(err, true)
		if err != nil {
			op.Err = err.Error()
		} else {
			op.Rev = cresp.Header.Revision
			done = op.CompactRev
		}
		wl.h.write(op)
	}
}

// Final puts w/final (on any member, until one acknowledges it), waits up to
// watchFinalWait for every watcher to deliver it, then stops the watchers.
func (wl *watchWorkload) Final(eps []Endpoint, within time.Duration) {
	defer func() {
		close(wl.quit)
		wl.running.Wait()
		for _, wt := range wl.watchers {
			wt.close()
		}
	}()
	var final int64
	deadline := time.Now().Add(within)
	for attempt := 0; final == 0 && time.Now().Before(deadline); attempt++ {
		ep := eps[attempt%len(eps)]
		c, err := newClient(ep.URL)
		if err != nil {
			continue
		}
		op := watchOp{Op: Op{Op: wl.h.id(), Wl: "watch", W: -1, Ep: ep.Name, F: "put",
			Key: watchFinalKey, Value: fmt.Sprintf("final-%d", attempt), Final: true}}
		ctx, cancel := withTimeout(wl.timeout)
		op.T0 = monotonic()
		resp, err := c.Put(ctx, op.Key, op.Value)
		op.T1 = monotonic()
		cancel()
		c.Close()
		op.Res = outcome(err, true)
		if err != nil {
			op.Err = err.Error()
			time.Sleep(200 * time.Millisecond)
		} else {
			op.Rev = resp.Header.Revision
			final = op.Rev
		}
		wl.h.write(op)
	}
	if final == 0 {
		return // the checker reports no acknowledged final put
	}
	for wait := time.Now().Add(watchFinalWait); time.Now().Before(wait); {
		all := true
		for _, wt := range wl.watchers {
			all = all && wt.reached() >= final
		}
		if all {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watcher follows one prefix for its whole life. Each open lasts 5-15 s on one member
// and the next is on another member, starting at the revision after the last event it
// recorded (after ErrCompacted: at the compaction's revision), so that its events,
// across opens, are one stream. WithRequireLeader makes a member without a leader end
// the watch instead of serving a stream that may stall.
type watcher struct {
	h       *History
	wl      string
	id      int64
	prefix  string
	eps     []Endpoint
	ep      string // the member of the last open
	rng     *rand.Rand
	clients map[string]*clientv3.Client // one per member, made when first used

	mu   sync.Mutex
	last int64 // the revision of the last event recorded
}

func newWatcher(h *History, wl string, id int64, prefix string, eps []Endpoint, ep string,
	rng *rand.Rand) *watcher {
	return &watcher{h: h, wl: wl, id: id, prefix: prefix, eps: eps, rng: rng,
		clients: map[string]*clientv3.Client{}, ep: ep}
}

func (wt *watcher) reached() int64 {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.last
}

// next picks a member other than the last one (the first open is on the worker's own).
func (wt *watcher) next(first bool) (string, *clientv3.Client, error) {
	ep := wt.eps[0]
	if first {
		for _, e := range wt.eps {
			if e.Name == wt.ep {
				ep = e
			}
		}
	} else if len(wt.eps) > 1 {
		for ep = wt.eps[wt.rng.Intn(len(wt.eps))]; ep.Name == wt.ep; {
			ep = wt.eps[wt.rng.Intn(len(wt.eps))]
		}
	}
	wt.ep = ep.Name
	if c, ok := wt.clients[ep.Name]; ok {
		return ep.Name, c, nil
	}
	c, err := newClient(ep.URL)
	if err != nil {
		return ep.Name, nil, err
	}
	wt.clients[ep.Name] = c
	return ep.Name, c, nil
}

func (wt *watcher) line(ep, f string) watchOp {
	t := monotonic()
	return watchOp{Op: Op{Op: wt.h.id(), Wl: wt.wl, W: int(wt.id), Ep: ep, F: f, T0: t, T1: t,
		Res: "ok"}, Watcher: wt.id}
}

// run watches from revision 1 until quit is closed.
func (wt *watcher) run(quit <-chan struct{}) {
	start := int64(1)
	for first := true; ; first = false {
		select {
		case <-quit:
			return
		default:
		}
		ep, c, err := wt.next(first)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		life := 5*time.Second + time.Duration(wt.rng.Int63n(int64(10*time.Second)))
		ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), life)
		go func() { // Watch blocks while it connects: quit must end that too
			select {
			case <-quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		open := wt.line(ep, "watch-open")
		open.Start = start
		wt.h.write(open)
		var closing watchOp // its fields; the line is made when the open ends
		wch := c.Watch(ctx, wt.prefix, clientv3.WithPrefix(), clientv3.WithRev(start))
		stopped := false
	receive:
		for {
			select {
			case <-quit:
				stopped = true
				closing.Err = "stopped: the run is over"
				break receive
			case resp, ok := <-wch:
				if !ok {
					if ctx.Err() != nil {
						closing.Err = "reopening elsewhere: " + ctx.Err().Error()
					} else {
						closing.Err = "the watch channel closed"
					}
					break receive
				}
				if resp.CompactRevision != 0 {
					closing.CompactRev = resp.CompactRevision
					start = resp.CompactRevision
				}
				if err := resp.Err(); err != nil {
					closing.Err = err.Error()
					break receive
				}
				if len(resp.Events) == 0 {
					continue // a progress notification: not used (design 4.3)
				}
				start = wt.record(ep, resp)
			}
		}
		select {
		case <-quit: // the open may have ended because quit canceled it
			stopped = true
			closing.Err = "stopped: the run is over"
		default:
		}
		cancel()
		line := wt.line(ep, "watch-close")
		line.Err, line.CompactRev = closing.Err, closing.CompactRev
		wt.h.write(line)
		if stopped {
			return
		}
		if ctx.Err() != context.DeadlineExceeded { // an error, not the end of this open's life
			select {
			case <-quit:
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// record writes one response's events; it returns the revision to resume from.
func (wt *watcher) record(ep string, resp clientv3.WatchResponse) int64 {
	line := wt.line(ep, "watch-events")
	line.Rev = resp.Header.Revision
	for _, ev := range resp.Events {
		e := WatchEvent{Type: "put", Key: string(ev.Kv.Key), Value: string(ev.Kv.Value),
			ModRev: ev.Kv.ModRevision, CreateRev: ev.Kv.CreateRevision, Version: ev.Kv.Version}
		if ev.Type == clientv3.EventTypeDelete {
			e.Type = "delete"
		}
		line.Events = append(line.Events, e)
	}
	wt.h.write(line)
	last := resp.Events[len(resp.Events)-1].Kv.ModRevision
	wt.mu.Lock()
	if last > wt.last {
		wt.last = last
	}
	wt.mu.Unlock()
	return last + 1
}

func (wt *watcher) close() {
	for _, c := range wt.clients {
		c.Close()
	}
}
