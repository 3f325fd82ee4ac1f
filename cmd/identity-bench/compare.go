package main

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// Round is one round of a comparison: A, then B.
type Round struct {
	Round    int     `json:"round"`
	A        *Result `json:"a"`
	B        *Result `json:"b,omitempty"`
	RPSRatio float64 `json:"rps_ratio,omitempty"` // A/B
	P99Ratio float64 `json:"p99_ratio,omitempty"` // A/B
}

// Summary is the median over the rounds of one target.
type Summary struct {
	URL             string  `json:"url"`
	RPS             float64 `json:"rps"`
	P99ms           float64 `json:"p99_ms"`
	Errors          int64   `json:"errors"` // summed over the rounds
	CPUmsPerRequest float64 `json:"cpu_ms_per_request,omitempty"`
	Cores           float64 `json:"cores,omitempty"`
}

// Medians sums up the rounds. The ratios are the medians of the per-round
// ratios (each round's A and B ran back to back, so drift of the machine
// cancels within a round), not the ratios of the medians.
type Medians struct {
	A        Summary  `json:"a"`
	B        *Summary `json:"b,omitempty"`
	RPSRatio float64  `json:"rps_ratio,omitempty"`
	P99Ratio float64  `json:"p99_ratio,omitempty"`
	CPURatio float64  `json:"cpu_per_request_ratio,omitempty"`
}

// Comparison is what -rounds or -compare-url print.
type Comparison struct {
	Scenario    string  `json:"scenario"`
	Concurrency int     `json:"concurrency"`
	Duration    float64 `json:"round_duration_s"`
	Rounds      []Round `json:"rounds"`
	Median      Medians `json:"median"`
}

// Compare runs cfg.Rounds rounds, each A for -d then B for -d.
func Compare(ctx context.Context, cfg *Config, progress io.Writer) (*Comparison, error) {
	c := &Comparison{Scenario: cfg.A.Scenario, Concurrency: cfg.A.Concurrency, Duration: cfg.A.Duration.Seconds()}
	for r := 1; r <= cfg.Rounds; r++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("round %d: %w", r, err)
		}
		rd := Round{Round: r}
		var err error
		if rd.A, err = Run(ctx, cfg.A, progress); err != nil {
			return nil, fmt.Errorf("round %d, target A (%s): %w", r, cfg.A.URL, err)
		}
		if cfg.B != nil {
			if rd.B, err = Run(ctx, cfg.B, progress); err != nil {
				return nil, fmt.Errorf("round %d, target B (%s): %w", r, cfg.B.URL, err)
			}
			rd.RPSRatio = ratio(rd.A.RPS, rd.B.RPS)
			rd.P99Ratio = ratio(rd.A.Latency.P99, rd.B.Latency.P99)
		}
		c.Rounds = append(c.Rounds, rd)
	}
	c.Median = medians(c.Rounds)
	return c, nil
}

func medians(rounds []Round) Medians {
	var m Medians
	pick := func(get func(Round) *Result) *Summary {
		var rps, p99, cpu, cores []float64
		s := &Summary{}
		for _, r := range rounds {
			res := get(r)
			if res == nil {
				return nil
			}
			s.URL = res.URL
			s.Errors += res.Errors
			rps = append(rps, res.RPS)
			p99 = append(p99, res.Latency.P99)
			if res.CPU != nil {
				cpu = append(cpu, res.CPU.CPUmsPerRequest)
				cores = append(cores, res.CPU.Cores)
			}
		}
		s.RPS, s.P99ms, s.CPUmsPerRequest, s.Cores = median(rps), median(p99), median(cpu), median(cores)
		return s
	}
	if a := pick(func(r Round) *Result { return r.A }); a != nil {
		m.A = *a
	}
	m.B = pick(func(r Round) *Result { return r.B })
	if m.B != nil {
		var rr, pr, cr []float64
		for _, r := range rounds {
			rr = append(rr, r.RPSRatio)
			pr = append(pr, r.P99Ratio)
			if r.A.CPU != nil && r.B.CPU != nil {
				cr = append(cr, ratio(r.A.CPU.CPUmsPerRequest, r.B.CPU.CPUmsPerRequest))
			}
		}
		m.RPSRatio, m.P99Ratio, m.CPURatio = median(rr), median(pr), median(cr)
	}
	return m
}

// median of xs (the mean of the middle two for an even count; 0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio is a/b, or 0 when b is 0 (JSON has no infinity).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func cpuCols(r *Result) string {
	if r.CPU == nil {
		return fmt.Sprintf("%10s %6s", "-", "-")
	}
	return fmt.Sprintf("%10.3f %6.2f", r.CPU.CPUmsPerRequest, r.CPU.Cores)
}

// WriteText prints one line per round and target, then the medians.
func (c *Comparison) WriteText(w io.Writer) {
	fmt.Fprintf(w, "scenario %s, %d concurrent, %d rounds of %.0fs per target\n\n", c.Scenario, c.Concurrency, len(c.Rounds), c.Duration)
	fmt.Fprintf(w, "%-6s %-3s %9s %9s %7s %10s %6s %8s %8s\n", "round", "", "req/s", "p99 ms", "errors", "cpu ms/req", "cores", "rps A/B", "p99 A/B")
	for _, r := range c.Rounds {
		fmt.Fprintf(w, "%-6d %-3s %9.0f %9.2f %7d %s\n", r.Round, "A", r.A.RPS, r.A.Latency.P99, r.A.Errors, cpuCols(r.A))
		if r.B != nil {
			fmt.Fprintf(w, "%-6s %-3s %9.0f %9.2f %7d %s %8.2f %8.2f\n", "", "B", r.B.RPS, r.B.Latency.P99, r.B.Errors, cpuCols(r.B), r.RPSRatio, r.P99Ratio)
		}
	}
	m := c.Median
	sum := func(label string, s *Summary) {
		fmt.Fprintf(w, "%-6s %-3s %9.0f %9.2f %7d %10.3f %6.2f", "median", label, s.RPS, s.P99ms, s.Errors, s.CPUmsPerRequest, s.Cores)
	}
	sum("A", &m.A)
	fmt.Fprintf(w, "   %s\n", m.A.URL)
	if m.B != nil {
		sum("B", m.B)
		fmt.Fprintf(w, " %8.2f %8.2f   %s\n", m.RPSRatio, m.P99Ratio, m.B.URL)
		if m.CPURatio != 0 {
			fmt.Fprintf(w, "cpu ms/request A/B (median of rounds): %.2f\n", m.CPURatio)
		}
	}
}
