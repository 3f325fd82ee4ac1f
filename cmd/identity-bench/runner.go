package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one run measured.
type Result struct {
	Scenario    string         `json:"scenario"`
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int64          `json:"requests"`
	OK          int64          `json:"ok"`
	Errors      map[string]int `json:"errors"`
	RPS         float64        `json:"rps"`
	P50ms       float64        `json:"p50_ms"`
	P95ms       float64        `json:"p95_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
}

// WriteText prints the result for people.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "scenario     %s (%s), %d concurrent, %.1fs\n", r.Scenario, r.URL, r.Concurrency, r.Seconds)
	fmt.Fprintf(w, "requests     %d ok, %d failed\n", r.OK, r.Requests-r.OK)
	fmt.Fprintf(w, "throughput   %.0f req/s (ok)\n", r.RPS)
	fmt.Fprintf(w, "latency      p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.P50ms, r.P95ms, r.P99ms, r.MaxMs)
	if len(r.Errors) > 0 {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "errors      ")
		for _, k := range keys {
			fmt.Fprintf(w, " %s=%d", k, r.Errors[k])
		}
		fmt.Fprintln(w)
	}
}

// worker runs one request of a scenario; it keeps whatever state it needs
// (a refresh token to rotate, a cookie jar).
type worker interface {
	Do(ctx context.Context) error
}

// newWorker prepares one worker of the scenario (setup is not measured).
type newWorker func(ctx context.Context, id int) (worker, error)

// errKind is an error classified for the report.
type errKind struct{ kind string }

func (e errKind) Error() string { return e.kind }

func kindOf(err error) string {
	var k errKind
	if errors.As(err, &k) {
		return k.kind
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "canceled"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return "conn_refused"
	case strings.Contains(msg, "connection reset"):
		return "conn_reset"
	case strings.Contains(msg, "EOF"):
		return "eof"
	}
	return "other"
}

// Run drives the scenario with o.Concurrency workers until the duration or
// count is reached. The first o.Warmup of requests is not counted.
func Run(ctx context.Context, o *Options, progress io.Writer) (*Result, error) {
	tr := &http.Transport{
		MaxIdleConns:        o.Concurrency * 2,
		MaxIdleConnsPerHost: o.Concurrency * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: o.Timeout}
	mk, err := scenarioFor(o, hc)
	if err != nil {
		return nil, err
	}
	workers := make([]worker, o.Concurrency)
	for i := range workers {
		if workers[i], err = mk(ctx, i); err != nil {
			return nil, fmt.Errorf("set up worker %d: %w", i, err)
		}
	}

	var (
		measuring atomic.Bool
		started   atomic.Int64 // requests begun (for -n)
		total     atomic.Int64
		okCount   atomic.Int64
		mu        sync.Mutex
		errs      = map[string]int{}
		lats      = make([][]time.Duration, o.Concurrency)
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var measureStart time.Time
	if o.Warmup <= 0 {
		measuring.Store(true)
		measureStart = time.Now()
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			defer func() { lats[i] = local }()
			for runCtx.Err() == nil {
				counted := measuring.Load()
				if counted && o.Count > 0 && started.Add(1) > int64(o.Count) {
					return
				}
				t0 := time.Now()
				err := workers[i].Do(runCtx)
				d := time.Since(t0)
				if !counted || runCtx.Err() != nil && err != nil {
					continue
				}
				total.Add(1)
				if err != nil {
					k := kindOf(err)
					mu.Lock()
					errs[k]++
					mu.Unlock()
					continue
				}
				okCount.Add(1)
				local = append(local, d)
			}
		}(i)
	}

	if o.Warmup > 0 {
		select {
		case <-time.After(o.Warmup):
		case <-ctx.Done():
		}
		measureStart = time.Now()
		measuring.Store(true)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var deadline <-chan time.Time
	if o.Count == 0 {
		deadline = time.After(o.Duration)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := int64(0), time.Now()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-deadline:
			cancel()
			<-done
			break loop
		case <-ctx.Done():
			cancel()
			<-done
			break loop
		case now := <-tick.C:
			if o.Progress && progress != nil {
				n := total.Load()
				mu.Lock()
				nerr := 0
				for _, v := range errs {
					nerr += v
				}
				mu.Unlock()
				fmt.Fprintf(progress, "\r%6.1fs  %8d req  %8.0f req/s  %d errors   ", now.Sub(measureStart).Seconds(), n,
					float64(n-last)/now.Sub(lastAt).Seconds(), nerr)
				last, lastAt = n, now
			}
		}
	}
	elapsed := time.Since(measureStart)
	if o.Progress && progress != nil {
		fmt.Fprintln(progress)
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(float64(len(all)-1) * p)
		return float64(all[i].Microseconds()) / 1000
	}
	res := &Result{
		Scenario: o.Scenario, URL: o.URL, Concurrency: o.Concurrency, Seconds: elapsed.Seconds(),
		Requests: total.Load(), OK: okCount.Load(), Errors: errs,
		RPS:   float64(okCount.Load()) / elapsed.Seconds(),
		P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99),
	}
	if len(all) > 0 {
		res.MaxMs = float64(all[len(all)-1].Microseconds()) / 1000
	}
	return res, nil
}
