package main

import (
	"context"
	"encoding/json"
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

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// OpResult is one operation of a mix.
type OpResult struct {
	Name         string         `json:"name"`
	Weight       int            `json:"weight"`
	Requests     int64          `json:"requests"`
	OK           int64          `json:"ok"`
	Errors       int64          `json:"errors"`
	ErrorsByKind map[string]int `json:"errors_by_kind"`
	RPS          float64        `json:"rps"`
	Latency      Latency        `json:"latency_ms"`
}

// Result is what one run measured.
type Result struct {
	Target       string         `json:"target"`
	Scenario     string         `json:"scenario"`
	URL          string         `json:"url"`
	Concurrency  int            `json:"concurrency"`
	Duration     float64        `json:"duration_s"` // measured, warm-up excluded
	Requests     int64          `json:"requests"`
	OK           int64          `json:"ok"`
	Errors       int64          `json:"errors"`
	ErrorsByKind map[string]int `json:"errors_by_kind"`
	RPS          float64        `json:"rps"` // successful requests per second
	Latency      Latency        `json:"latency_ms"`
	Operations   []OpResult     `json:"operations,omitempty"` // mix only
	CPU          *CPU           `json:"cpu,omitempty"`        // with -pid
}

func writeJSON(w io.Writer, v any) error {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

func writeKinds(w io.Writer, m map[string]int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, " %s=%d", k, m[k])
	}
}

// WriteText prints the result for people.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "scenario     %s (%s), %d concurrent, %.1fs\n", r.Scenario, r.URL, r.Concurrency, r.Duration)
	fmt.Fprintf(w, "requests     %d ok, %d failed\n", r.OK, r.Errors)
	fmt.Fprintf(w, "throughput   %.0f req/s (ok)\n", r.RPS)
	l := r.Latency
	fmt.Fprintf(w, "latency      p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", l.P50, l.P90, l.P99, l.Max)
	if len(r.ErrorsByKind) > 0 {
		fmt.Fprintf(w, "errors      ")
		writeKinds(w, r.ErrorsByKind)
		fmt.Fprintln(w)
	}
	if r.CPU != nil {
		fmt.Fprintf(w, "cpu          %.3f ms/request, %.2f cores (pids %v, %d ticks/s)\n", r.CPU.CPUmsPerRequest, r.CPU.Cores, r.CPU.PIDs, r.CPU.TicksPerSecond)
	}
	if len(r.Operations) > 0 {
		fmt.Fprintf(w, "\n%-20s %6s %9s %8s %7s %9s %9s %9s\n", "operation", "weight", "ok", "req/s", "errors", "p50 ms", "p90 ms", "p99 ms")
		for _, op := range r.Operations {
			fmt.Fprintf(w, "%-20s %6d %9d %8.0f %7d %9.2f %9.2f %9.2f", op.Name, op.Weight, op.OK, op.RPS, op.Errors, op.Latency.P50, op.Latency.P90, op.Latency.P99)
			writeKinds(w, op.ErrorsByKind)
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%-20s %6s %9d %8.0f %7d %9.2f %9.2f %9.2f\n", "total", "", r.OK, r.RPS, r.Errors, l.P50, l.P90, l.P99)
	}
}

// worker runs one request of a scenario; it keeps whatever state it needs
// (a refresh token to rotate, a cookie jar).
type worker interface {
	Do(ctx context.Context) error
}

// multiWorker is a worker that runs one of several operations per request
// (the mix) and says which.
type multiWorker interface {
	DoOp(ctx context.Context) (int, error)
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

// percentile returns the p-quantile (0..1) of sorted latencies in
// milliseconds: the value at index floor((n-1)·p), 0 when there are none.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i].Microseconds()) / 1000
}

func latencyOf(lats []time.Duration) Latency {
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return Latency{P50: percentile(lats, 0.50), P90: percentile(lats, 0.90), P95: percentile(lats, 0.95),
		P99: percentile(lats, 0.99), Max: percentile(lats, 1)}
}

// opStats is one worker's record of one operation.
type opStats struct {
	lats      []time.Duration
	total, ok int64
	errs      map[string]int
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
	opNames := []string{o.Scenario}
	if o.Scenario == "mix" {
		opNames = opNames[:0]
		for _, m := range o.Mix {
			opNames = append(opNames, m.Op)
		}
	}

	var (
		measuring  atomic.Bool
		started    atomic.Int64 // requests begun (for -n)
		total      atomic.Int64
		errCount   atomic.Int64
		stats      = make([][]opStats, o.Concurrency)
		ticks0     uint64
		measureErr error
	)
	// At the end no request is cut off: the workers start no new one and
	// those in flight finish (within -timeout) uncounted, so the server sees
	// no aborted requests. Only ctx (an interrupt) cancels them.
	var over atomic.Bool
	var measureStart time.Time
	begin := func() {
		if len(o.PIDs) > 0 {
			ticks0, measureErr = cpuTicks(o.PIDs)
		}
		measureStart = time.Now()
		measuring.Store(true)
	}
	if o.Warmup <= 0 {
		begin()
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			local := make([]opStats, len(opNames))
			for j := range local {
				local[j] = opStats{lats: make([]time.Duration, 0, 1024), errs: map[string]int{}}
			}
			defer func() { stats[i] = local }()
			mw, multi := workers[i].(multiWorker)
			for !over.Load() && ctx.Err() == nil {
				counted := measuring.Load()
				if counted && o.Count > 0 && started.Add(1) > int64(o.Count) {
					return
				}
				op := 0
				t0 := time.Now()
				var err error
				if multi {
					op, err = mw.DoOp(ctx)
				} else {
					err = workers[i].Do(ctx)
				}
				d := time.Since(t0)
				if !counted || over.Load() || ctx.Err() != nil && err != nil {
					continue
				}
				total.Add(1)
				s := &local[op]
				s.total++
				if err != nil {
					errCount.Add(1)
					s.errs[kindOf(err)]++
					continue
				}
				s.ok++
				s.lats = append(s.lats, d)
			}
		}(i)
	}

	if o.Warmup > 0 {
		select {
		case <-time.After(o.Warmup):
		case <-ctx.Done():
		}
		begin()
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
	var elapsed time.Duration
	var ticks1 uint64
	end := func() {
		over.Store(true)
		elapsed = time.Since(measureStart)
		if len(o.PIDs) > 0 && measureErr == nil {
			ticks1, measureErr = cpuTicks(o.PIDs)
		}
	}
loop:
	for {
		select {
		case <-done:
			end()
			break loop
		case <-deadline:
			end()
			<-done
			break loop
		case <-ctx.Done():
			end()
			<-done
			break loop
		case now := <-tick.C:
			if o.Progress && progress != nil {
				n := total.Load()
				fmt.Fprintf(progress, "\r%s %6.1fs  %8d req  %8.0f req/s  %d errors   ", o.Label, now.Sub(measureStart).Seconds(), n,
					float64(n-last)/now.Sub(lastAt).Seconds(), errCount.Load())
				last, lastAt = n, now
			}
		}
	}
	if o.Progress && progress != nil {
		fmt.Fprintln(progress)
	}
	if measureErr != nil {
		return nil, measureErr
	}
	res := &Result{Target: o.Label, Scenario: o.Scenario, URL: o.URL, Concurrency: o.Concurrency,
		Duration: elapsed.Seconds(), ErrorsByKind: map[string]int{}}
	var all []time.Duration
	for j, name := range opNames {
		op := OpResult{Name: name, ErrorsByKind: map[string]int{}}
		if o.Scenario == "mix" {
			op.Weight = o.Mix[j].Weight
		}
		var lats []time.Duration
		for i := range stats {
			s := stats[i][j]
			op.Requests += s.total
			op.OK += s.ok
			for k, v := range s.errs {
				op.ErrorsByKind[k] += v
				res.ErrorsByKind[k] += v
			}
			lats = append(lats, s.lats...)
		}
		op.Errors = op.Requests - op.OK
		op.RPS = float64(op.OK) / elapsed.Seconds()
		op.Latency = latencyOf(lats)
		res.Requests += op.Requests
		res.OK += op.OK
		all = append(all, lats...)
		res.Operations = append(res.Operations, op)
	}
	if o.Scenario != "mix" {
		res.Operations = nil
	}
	res.Errors = res.Requests - res.OK
	res.RPS = float64(res.OK) / elapsed.Seconds()
	res.Latency = latencyOf(all)
	if len(o.PIDs) > 0 {
		res.CPU = newCPU(o.PIDs, ticks1-ticks0, res.Requests, elapsed.Seconds())
	}
	return res, nil
}
