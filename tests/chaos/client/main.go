// chaos-client: the chaos harness's client (tests/chaos). It runs a workload against
// every member through etcd's own Go client (clientv3 3.4, Debian's sources), so the
// history is what a real user sees, and writes one JSON line per operation
// (proto/raftkv/chaos_history.proto) once the operation has returned.
//
// It runs until SIGUSR1 (the harness healed every fault): then it stops calling, waits
// for the calls in flight, reads every key once more (the final reads, retried on any
// member for up to a minute), writes {"done":true} and exits 0. SIGTERM stops it at
// once.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Op is one line of the history; the names are the proto's JSON names.
type Op struct {
	Op        int64  `json:"op"`
	Wl        string `json:"wl"`
	W         int    `json:"w"`
	Ep        string `json:"ep"`
	F         string `json:"f"`
	Key       string `json:"key"`
	Expect    string `json:"expect,omitempty"`
	Value     string `json:"value,omitempty"`
	Found     bool   `json:"found,omitempty"`
	T0        int64  `json:"t0"`
	T1        int64  `json:"t1"`
	Res       string `json:"res"`
	Succeeded bool   `json:"succeeded,omitempty"`
	Rev       int64  `json:"rev,omitempty"`
	Err       string `json:"err,omitempty"`
	Final     bool   `json:"final,omitempty"`
}

// monotonic is CLOCK_MONOTONIC in nanoseconds: the harness stamps its faults with the
// same clock, so both files share one time axis.
func monotonic() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// History writes operations as they complete, numbering them.
type History struct {
	mu   sync.Mutex
	next int64
	enc  *json.Encoder
	file *os.File
}

func (h *History) id() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	return h.next
}

func (h *History) write(v interface{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.enc.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "chaos-client: writing the history: %v\n", err)
		os.Exit(3)
	}
}

// Endpoint is one member: its name in the history and its client URL.
type Endpoint struct {
	Name string
	URL  string
}

func parseEndpoints(s string) ([]Endpoint, error) {
	var out []Endpoint
	for _, part := range strings.Split(s, ",") {
		name, url, ok := strings.Cut(part, "=")
		if !ok || name == "" || url == "" {
			return nil, fmt.Errorf("--endpoints: %q is not name=url", part)
		}
		out = append(out, Endpoint{name, url})
	}
	return out, nil
}

// newClient connects to one member only, so no balancer hides which member answered.
// The dial does not block: calls to a member that is down fail on their own.
func newClient(url string) (*clientv3.Client, error) {
	// Quiet: the history says what happened; the client's own log would be noise.
	logs := zap.NewProductionConfig()
	logs.Level = zap.NewAtomicLevelAt(zap.FatalLevel)
	return clientv3.New(clientv3.Config{
		Endpoints:            []string{url},
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		LogConfig:            &logs,
	})
}

// Workload is one kind of client load with its own keys (a prefix of its own) and
// checker. Worker runs until stop is closed, pacing itself with pace(); Final runs once
// every fault is healed and the workers have stopped.
type Workload interface {
	Worker(w int, ep string, c *clientv3.Client, rng *rand.Rand, interval time.Duration,
		stop <-chan struct{})
	Final(eps []Endpoint, within time.Duration)
}

// pace waits about `interval` (exponentially distributed, so workers never march in
// step); false once stop is closed.
func pace(rng *rand.Rand, interval time.Duration, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	case <-time.After(time.Duration(rng.ExpFloat64() * float64(interval))):
		return true
	}
}

func main() {
	endpoints := flag.String("endpoints", "", "name=url,... one per member")
	historyPath := flag.String("history", "", "where the operations go (JSON lines)")
	workloads := flag.String("workloads", "register", "comma-separated: register,append,watch,lease")
	workers := flag.Int("workers-per-member", 2, "workers per member and workload")
	rate := flag.Float64("rate", 60, "operations per second per workload, over all its workers")
	seed := flag.Int64("seed", 1, "the seed of every worker's choices")
	timeout := flag.Duration("op-timeout", 3*time.Second, "each call's deadline")
	flag.Parse()
	eps, err := parseEndpoints(*endpoints)
	if err != nil || *historyPath == "" || *workers < 1 || *rate <= 0 {
		fmt.Fprintf(os.Stderr, "chaos-client: usage: --endpoints name=url,... --history FILE "+
			"[--workloads register,append,watch,lease] [--workers-per-member N>0] [--rate R>0] (%v)\n", err)
		os.Exit(2)
	}
	f, err := os.Create(*historyPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos-client: %v\n", err)
		os.Exit(3)
	}
	h := &History{enc: json.NewEncoder(f), file: f}

	var chosen []Workload
	for _, name := range strings.Split(*workloads, ",") {
		switch name {
		case "register":
			chosen = append(chosen, newRegister(h, *timeout))
		case "append":
			chosen = append(chosen, newAppend(h, *timeout))
		case "watch":
			chosen = append(chosen, newWatch(h, *timeout, eps, *rate))
		case "lease":
			chosen = append(chosen, newLease(h, *timeout, eps))
		default:
			fmt.Fprintf(os.Stderr, "chaos-client: --workloads: unknown workload %q\n", name)
			os.Exit(2)
		}
	}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	stop := make(chan struct{})

	var wg sync.WaitGroup
	n := len(eps) * *workers
	interval := time.Duration(float64(time.Second) * float64(n) / *rate)
	for wi, wl := range chosen {
		for i := 0; i < n; i++ {
			ep := eps[i%len(eps)]
			c, err := newClient(ep.URL)
			if err != nil {
				fmt.Fprintf(os.Stderr, "chaos-client: client for %s: %v\n", ep.URL, err)
				os.Exit(3)
			}
			w := wi*1000 + i
			wg.Add(1)
			go func(wl Workload, w int, ep Endpoint, c *clientv3.Client) {
				defer wg.Done()
				defer c.Close()
				wl.Worker(w, ep.Name, c, rand.New(rand.NewSource(*seed*100000+int64(w))), interval, stop)
			}(wl, w, ep, c)
		}
	}

	sig := <-signals
	close(stop)
	if sig != syscall.SIGUSR1 {
		os.Exit(1)
	}
	wg.Wait()
	for _, wl := range chosen {
		wl.Final(eps, 60*time.Second)
	}
	h.write(map[string]bool{"done": true})
	if err := f.Sync(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos-client: %v\n", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// withTimeout runs one call under its own deadline.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// finalGet is a workload's final read: one linearizable range read of `prefix`, asked
// of each member in turn until one answers or `deadline` passes (nil then). It returns
// the member that answered and the call's interval.
func finalGet(eps []Endpoint, deadline time.Time, timeout time.Duration, prefix string,
	opts ...clientv3.OpOption) (*clientv3.GetResponse, Endpoint, int64, int64) {
	opts = append([]clientv3.OpOption{clientv3.WithPrefix()}, opts...)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		ep := eps[attempt%len(eps)]
		c, err := newClient(ep.URL)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		ctx, cancel := withTimeout(timeout)
		t0 := monotonic()
		resp, err := c.Get(ctx, prefix, opts...)
		t1 := monotonic()
		cancel()
		c.Close()
		if err == nil {
			return resp, ep, t0, t1
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, Endpoint{}, 0, 0
}
