package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
)

// mixEntry is one operation of -scenario mix and its weight.
type mixEntry struct {
	Op     string
	Weight int
}

// parseMix reads "client-credentials=70,introspect=20,refresh=5,login-api=5".
// Weights are non-negative integers, relative to their sum (they need not add
// up to 100); an operation may appear once.
func parseMix(s string) ([]mixEntry, error) {
	var out []mixEntry
	seen := map[string]bool{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("-mix %q: empty entry (use op=weight,op=weight)", s)
		}
		op, w, ok := strings.Cut(part, "=")
		op = strings.TrimSpace(op)
		if !ok {
			return nil, fmt.Errorf("-mix: %q has no weight (use %s=NUMBER)", part, op)
		}
		known := false
		for _, sc := range scenarios {
			known = known || (sc == op && sc != "mix")
		}
		if !known {
			return nil, fmt.Errorf("-mix: unknown operation %q (use %s)", op, strings.Join(scenarios[:len(scenarios)-1], ", "))
		}
		if seen[op] {
			return nil, fmt.Errorf("-mix: %s appears twice", op)
		}
		seen[op] = true
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-mix: weight of %s is %q, want a whole number ≥ 0", op, w)
		}
		total += n
		out = append(out, mixEntry{Op: op, Weight: n})
	}
	if total == 0 {
		return nil, fmt.Errorf("-mix %q: the weights add up to 0", s)
	}
	return out, nil
}

// mixWorker holds one worker of each operation and picks one per request by
// weight.
type mixWorker struct {
	ops   []worker
	cum   []int // cumulative weights
	total int
}

// pick maps r in [0, total) to the operation whose weight band holds it.
func (w *mixWorker) pick(r int) int {
	for i, c := range w.cum {
		if r < c {
			return i
		}
	}
	return len(w.cum) - 1
}

func (w *mixWorker) DoOp(ctx context.Context) (int, error) {
	i := w.pick(rand.IntN(w.total))
	return i, w.ops[i].Do(ctx)
}

func (w *mixWorker) Do(ctx context.Context) error {
	_, err := w.DoOp(ctx)
	return err
}

func mixScenario(o *Options, hc *http.Client) (newWorker, error) {
	makers := make([]newWorker, len(o.Mix))
	cum := make([]int, len(o.Mix))
	total := 0
	for i, m := range o.Mix {
		mk, err := scenarioByName(m.Op, o, hc)
		if err != nil {
			return nil, fmt.Errorf("mix %s: %w", m.Op, err)
		}
		makers[i] = mk
		total += m.Weight
		cum[i] = total
	}
	return func(ctx context.Context, id int) (worker, error) {
		w := &mixWorker{ops: make([]worker, len(makers)), cum: cum, total: total}
		for i, mk := range makers {
			if o.Mix[i].Weight == 0 {
				w.ops[i] = nil
				continue
			}
			var err error
			if w.ops[i], err = mk(ctx, id); err != nil {
				return nil, fmt.Errorf("mix %s: %w", o.Mix[i].Op, err)
			}
		}
		return w, nil
	}, nil
}
