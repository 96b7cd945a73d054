// raftkv-goload: a closed-loop load generator on etcd's own Go client (clientv3 3.4,
// Debian's sources), so that bench_compare.py's figures do not rest on our own client
// alone. It sends what raftkv-bench sends (the same keys, values and operations) and
// prints one JSON object with the fields of raftkv-bench's -o json.
//
// --clients goroutines share --conns clientv3 clients round-robin; client i talks to
// endpoint i mod len(--endpoints) only, as raftkv-bench spreads its connections. Before
// range and txn workloads every key is written once (the preload), so reads find data.
//
// Exit status: 0 when the run measured, 1 when nothing succeeded or the preload failed,
// 2 on bad usage.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Options are the command line's values, checked by parseOptions.
type Options struct {
	Endpoints []string
	Workload  string
	Clients   int
	Conns     int
	Duration  time.Duration
	Warmup    time.Duration
	KeySpace  int64
	KeySize   int
	ValueSize int
	Timeout   time.Duration
	Preload   bool
	CACert    string
	Cert      string
	Key       string
	User      string
	Password  string
}

// op issues one request of a workload.
type op func(ctx context.Context, c *clientv3.Client, key, value string) error

var workloads = map[string]op{
	"put": func(ctx context.Context, c *clientv3.Client, key, value string) error {
		_, err := c.Put(ctx, key, value)
		return err
	},
	"range": func(ctx context.Context, c *clientv3.Client, key, _ string) error {
		_, err := c.Get(ctx, key)
		return err
	},
	"range-serializable": func(ctx context.Context, c *clientv3.Client, key, _ string) error {
		_, err := c.Get(ctx, key, clientv3.WithSerializable())
		return err
	},
	// Compare-and-swap, as raftkv-bench's txn: if the key exists, write it; else read it.
	"txn": func(ctx context.Context, c *clientv3.Client, key, value string) error {
		_, err := c.Txn(ctx).If(clientv3.Compare(clientv3.Version(key), ">", 0)).
			Then(clientv3.OpPut(key, value)).Else(clientv3.OpGet(key)).Commit()
		return err
	},
}

func workloadNames() string {
	var names []string
	for n := range workloads {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, "|")
}

// usageError is a command line that cannot run; main prints it and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...interface{}) error {
	return usageError{fmt.Sprintf(format, args...)}
}

func parseOptions(args []string) (*Options, error) {
	fs := flag.NewFlagSet("raftkv-goload", flag.ContinueOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "host:port,... (clients spread over them)")
	o := &Options{}
	fs.StringVar(&o.Workload, "workload", "put", workloadNames())
	fs.IntVar(&o.Clients, "clients", 16, "concurrent goroutines, each one request at a time [1, 4096]")
	fs.IntVar(&o.Conns, "conns", 4, "clientv3 clients the goroutines share round-robin [1, 1024]")
	duration := fs.Float64("duration", 10, "seconds to measure, after the warm-up")
	warmup := fs.Float64("warmup", 1, "seconds of load before measuring")
	fs.Int64Var(&o.KeySpace, "key-space", 10000, "distinct keys [1, 100000000]")
	fs.IntVar(&o.KeySize, "key-size", 16, "key bytes: bench/<i> padded with '_', as raftkv-bench's")
	fs.IntVar(&o.ValueSize, "value-size", 256, "value bytes [0, 1048576]")
	timeoutMs := fs.Int("timeout", 10000, "per-request timeout in ms")
	noPreload := fs.Bool("no-preload", false, "do not write the key space before reads and txns")
	fs.StringVar(&o.CACert, "cacert", "", "verify servers' certificates with this CA (PEM)")
	fs.StringVar(&o.Cert, "cert", "", "this client's TLS certificate (PEM)")
	fs.StringVar(&o.Key, "key", "", "the private key of --cert (PEM)")
	fs.StringVar(&o.User, "user", "", "the user to act as: name[:password], as etcdctl's")
	fs.StringVar(&o.Password, "password", "", "the password of --user (when it holds a colon)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q: every option is a --flag", fs.Arg(0))
	}
	for _, ep := range strings.Split(*endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			o.Endpoints = append(o.Endpoints, ep)
		}
	}
	o.Preload = !*noPreload
	switch {
	case len(o.Endpoints) == 0:
		return nil, usagef("--endpoints names no endpoint")
	case workloads[o.Workload] == nil:
		return nil, usagef("--workload %q is not one of %s", o.Workload, workloadNames())
	case o.Clients < 1 || o.Clients > 4096:
		return nil, usagef("--clients %d is out of range [1, 4096]", o.Clients)
	case o.Conns < 1 || o.Conns > 1024:
		return nil, usagef("--conns %d is out of range [1, 1024]", o.Conns)
	case !(*duration >= 0.1 && *duration <= 86400):
		return nil, usagef("--duration %g is out of range [0.1, 86400] seconds", *duration)
	case !(*warmup >= 0 && *warmup <= 3600):
		return nil, usagef("--warmup %g is out of range [0, 3600] seconds", *warmup)
	case o.KeySpace < 1 || o.KeySpace > 100000000:
		return nil, usagef("--key-space %d is out of range [1, 100000000]", o.KeySpace)
	case o.KeySize < 1 || o.KeySize > 65536:
		return nil, usagef("--key-size %d is out of range [1, 65536]", o.KeySize)
	case o.ValueSize < 0 || o.ValueSize > 1<<20:
		return nil, usagef("--value-size %d is out of range [0, 1048576]", o.ValueSize)
	case *timeoutMs < 1 || *timeoutMs > 600000:
		return nil, usagef("--timeout %d is out of range [1, 600000] ms", *timeoutMs)
	case (o.Cert == "") != (o.Key == ""):
		return nil, usagef("--cert and --key go together: give both or neither")
	}
	o.Duration = time.Duration(*duration * float64(time.Second))
	o.Warmup = time.Duration(*warmup * float64(time.Second))
	o.Timeout = time.Duration(*timeoutMs) * time.Millisecond
	if o.User != "" {
		name, password, found := strings.Cut(o.User, ":")
		if !found {
			password = o.Password
		}
		if name == "" || password == "" {
			return nil, usagef("--user %s needs a password: --user name:password or --password",
				o.User)
		}
		o.User, o.Password = name, password
	}
	return o, nil
}

// keyOf is raftkv-bench's key_of: both tools write and read the same keys.
func keyOf(i int64, size int) string {
	k := "bench/" + strconv.FormatInt(i, 10)
	if len(k) < size {
		k += strings.Repeat("_", size-len(k))
	}
	return k
}

func tlsConfig(o *Options) (*tls.Config, error) {
	if o.CACert == "" && o.Cert == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CACert != "" {
		pem, err := os.ReadFile(o.CACert)
		if err != nil {
			return nil, usagef("--cacert: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--cacert %s holds no PEM certificate", o.CACert)
		}
	}
	if o.Cert != "" {
		pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, usagef("--cert/--key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// connect makes --conns clients, client i on endpoint i mod len(endpoints) alone (no
// balancer), as raftkv-bench's connections. With --user each authenticates once.
func connect(o *Options) ([]*clientv3.Client, error) {
	tlsCfg, err := tlsConfig(o)
	if err != nil {
		return nil, err
	}
	// Quiet: the JSON says what happened; the client's own log would be noise on stderr.
	logs := zap.NewProductionConfig()
	logs.Level = zap.NewAtomicLevelAt(zap.FatalLevel)
	var clients []*clientv3.Client
	for i := 0; i < o.Conns; i++ {
		ep := o.Endpoints[i%len(o.Endpoints)]
		if !strings.Contains(ep, "://") {
			if tlsCfg != nil {
				ep = "https://" + ep
			} else {
				ep = "http://" + ep
			}
		}
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{ep},
			DialTimeout: o.Timeout,
			TLS:         tlsCfg,
			Username:    o.User,
			Password:    o.Password,
			LogConfig:   &logs,
		})
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			return nil, fmt.Errorf("connecting to %s: %v", ep, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}

// errorName is how an error is counted: its gRPC code and message, as raftkv-bench's.
func errorName(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "DEADLINE_EXCEEDED: " + err.Error()
	}
	code, msg := codes.Unknown, err.Error()
	var etcdErr rpctypes.EtcdError // what clientv3 turns etcd's known errors into
	if errors.As(err, &etcdErr) {
		code, msg = etcdErr.Code(), etcdErr.Error()
	} else if st, ok := status.FromError(err); ok {
		code, msg = st.Code(), st.Message()
	}
	return strings.ToUpper(strings.ReplaceAll(splitCamel(code.String()), " ", "_")) + ": " + msg
}

// splitCamel turns "DeadlineExceeded" into "Deadline Exceeded" (gRPC's Go names to the
// C++ names raftkv-bench prints, DEADLINE_EXCEEDED).
func splitCamel(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// preload writes every key once, min(clients, 64) at a time, retrying a put up to five
// times (a put of a fixed value is idempotent); an error after that fails the run.
func preload(o *Options, clients []*clientv3.Client, value string) error {
	var next int64 = -1
	var failed int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	loaders := o.Clients
	if loaders > 64 {
		loaders = 64
	}
	for t := 0; t < loaders; t++ {
		wg.Add(1)
		go func(c *clientv3.Client) {
			defer wg.Done()
			for i := atomic.AddInt64(&next, 1); i < o.KeySpace; i = atomic.AddInt64(&next, 1) {
				var err error
				for attempt := 0; attempt < 5; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
					_, err = c.Put(ctx, keyOf(i, o.KeySize), value)
					cancel()
					if err == nil {
						break
					}
				}
				if err != nil {
					atomic.AddInt64(&failed, 1)
					firstErr.CompareAndSwap(nil, errorName(err))
				}
			}
		}(clients[t%len(clients)])
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("preloading the key space: %d puts failed (first: %v)", failed,
			firstErr.Load())
	}
	return nil
}

// result is one goroutine's: latencies of successful requests after the warm-up, errors.
type result struct {
	latenciesUs []uint32
	errors      map[string]int64
}

// run drives the load: each goroutine sends one request at a time (closed loop). A
// request that began in the warm-up is not counted; the first to end after the measured
// window stops every goroutine, as in raftkv-bench.
func run(o *Options, clients []*clientv3.Client, value string) []result {
	issue := workloads[o.Workload]
	start := time.Now()
	measureFrom, measureUntil := start.Add(o.Warmup), start.Add(o.Warmup+o.Duration)
	var stop int32
	results := make([]result, o.Clients)
	var wg sync.WaitGroup
	for g := 0; g < o.Clients; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := clients[g%len(clients)]
			rng := rand.New(rand.NewSource(int64(g)*7919 + 1))
			r := &results[g]
			r.errors = map[string]int64{}
			for atomic.LoadInt32(&stop) == 0 {
				key := keyOf(rng.Int63n(o.KeySpace), o.KeySize)
				ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
				began := time.Now()
				err := issue(ctx, c, key, value)
				ended := time.Now()
				cancel()
				if began.Before(measureFrom) {
					continue
				}
				if ended.After(measureUntil) {
					atomic.StoreInt32(&stop, 1)
					break
				}
				if err == nil {
					r.latenciesUs = append(r.latenciesUs, uint32(ended.Sub(began).Microseconds()))
				} else {
					r.errors[errorName(err)]++
				}
			}
		}(g)
	}
	wg.Wait()
	return results
}

// percentile is raftkv-bench's: the value at rank ceil(p% of n), in milliseconds.
func percentile(sorted []uint32, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p / 100 * float64(len(sorted))))
	if p > 0 {
		i--
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i]) / 1000
}

// Report is raftkv-bench's -o json, plus the client that measured.
type Report struct {
	Tool       string             `json:"tool"`
	Workload   string             `json:"workload"`
	Clients    int                `json:"clients"`
	Conns      int                `json:"conns"`
	Rate       float64            `json:"rate"`
	Seconds    float64            `json:"seconds"`
	Ops        int                `json:"ops"`
	Errors     int64              `json:"errors"`
	Throughput float64            `json:"throughput"`
	LatencyMs  map[string]float64 `json:"latency_ms"`
	ErrorCodes map[string]int64   `json:"error_codes"`
}

func summarize(o *Options, results []result) Report {
	var all []uint32
	rep := Report{Tool: "raftkv-goload (etcd clientv3)", Workload: o.Workload,
		Clients: o.Clients, Conns: o.Conns, Seconds: o.Duration.Seconds(),
		ErrorCodes: map[string]int64{}}
	for _, r := range results {
		all = append(all, r.latenciesUs...)
		for k, v := range r.errors {
			rep.ErrorCodes[k] += v
			rep.Errors += v
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	rep.Ops = len(all)
	rep.Throughput = float64(len(all)) / rep.Seconds
	rep.LatencyMs = map[string]float64{"p50": percentile(all, 50), "p90": percentile(all, 90),
		"p99": percentile(all, 99), "p999": percentile(all, 99.9), "max": percentile(all, 100)}
	return rep
}

func main() {
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // the flags went to stderr, as the flag package prints them
		}
		fmt.Fprintf(os.Stderr, "raftkv-goload: %v\n", err)
		os.Exit(2)
	}
	clients, err := connect(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "raftkv-goload: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	value := strings.Repeat("v", o.ValueSize)
	if o.Workload != "put" && o.Preload {
		if err := preload(o, clients, value); err != nil {
			fmt.Fprintf(os.Stderr, "raftkv-goload: %v\n", err)
			os.Exit(1)
		}
	}
	rep := summarize(o, run(o, clients, value))
	out, err := json.Marshal(rep)
	if err != nil {
		panic(err) // a Report always marshals
	}
	fmt.Println(string(out))
	if rep.Ops == 0 {
		fmt.Fprintf(os.Stderr, "raftkv-goload: nothing succeeded in %g s: %d errors %v\n",
			rep.Seconds, rep.Errors, rep.ErrorCodes)
		os.Exit(1)
	}
}
