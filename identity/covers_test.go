package identity_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
)

func TestCovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		held    []string
		pattern string
		want    bool
	}{
		// From the issue.
		{[]string{"identity.*"}, "identity.users.read", true},
		{[]string{"identity.*"}, "identity.users.*", true},
		{[]string{"identity.*"}, "identity.*", true},
		{[]string{"identity.*"}, "identity", false},
		{[]string{"identity.*"}, "*", false},
		{[]string{"tenant.*.crm.read"}, "tenant.*.*", false},
		{[]string{"tenant.*.crm.read"}, "tenant.acme.crm.read", true},
		{[]string{"tenant.*.crm.read"}, "tenant.*.crm.read", true},
		{[]string{"tenant.*.crm.read"}, "tenant.*.crm.*", false},
		{[]string{"a.*.c"}, "a.b.c", true},
		{[]string{"a.*.c"}, "a.*.c", true},
		{[]string{"a.*.c"}, "a.b.*", false},
		{[]string{"a.*.c"}, "a.b.c.d", false},
		{[]string{"a.b"}, "a.*", false},
		{[]string{"a.b"}, "a.b", true},
		// Everything.
		{[]string{"*"}, "*", true},
		{[]string{"*"}, "tenant.acme.*", true},
		{[]string{"*"}, "billing.payouts.approve", true},
		{[]string{"*.*"}, "*", false},
		{[]string{"*.*"}, "a.b", true},
		{[]string{"*.*"}, "a", false},
		// Outside the catalogue.
		{nil, "billing.payouts.approve", false},
		{[]string{"identity.users.read"}, "billing.payouts.approve", false},
		{[]string{"billing.*"}, "billing.payouts.approve", true},
		{[]string{"billing.payouts.approve"}, "billing.payouts.*", false},
		// A tenant's whole namespace.
		{[]string{"identity.users.read", "identity.roles.create"}, "tenant.acme.*", false},
		{[]string{"tenant.*.crm.contacts.delete", "tenant.*.crm.export"}, "tenant.acme.*", false},
		{[]string{"tenant.acme.*"}, "tenant.acme.crm.export", true},
		{[]string{"tenant.*.*"}, "tenant.acme.*", true},
		// A union of narrower grants never makes a wider one.
		{[]string{"a.b.*", "a.c.*"}, "a.*", false},
		{[]string{"a.b", "a.*.*"}, "a.*", false},
		{[]string{"identity.users.read", "identity.users.update"}, "identity.users.*", false},
		// Inner stars are one segment.
		{[]string{"a.*.c"}, "a.x.y.c", false},
		{[]string{"a.*.*"}, "a.*.c", true},
		{[]string{"a.*.*"}, "a.b.c.d", true},
		{[]string{"a.*.*"}, "a.b", false},
		// Malformed held grants cover nothing.
		{[]string{""}, "a", false},
	}
	for _, tt := range tests {
		if got := identity.Covers(identity.PermissionSet(tt.held), tt.pattern); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.held, tt.pattern, got, tt.want)
		}
	}
}

func TestOverlapsAndReachesDanger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"a.*", "a.b.c", true},
		{"a.*", "b.*", false},
		{"a.*.c", "a.b.*", true},
		{"a.*.c", "a.b.d", false},
		{"a.b", "a.b.*", false},
		{"*", "x", true},
		{"a.*.*", "a.b", false},
		{"a.*.*", "*.b.*", true},
	}
	for _, tt := range tests {
		if got := identity.Overlaps(tt.a, tt.b); got != tt.want {
			t.Errorf("Overlaps(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := identity.Overlaps(tt.b, tt.a); got != tt.want {
			t.Errorf("Overlaps(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
	for _, tt := range []struct {
		p    string
		want bool
	}{
		{"tenant.acme.*", true},
		{"tenant.*", true},
		{"*", true},
		{"identity.*", true},
		{"identity.users.*", true},
		{"identity.users.read", false},
		{"tenant.acme.crm.contacts.read", false},
		{"tenant.acme.crm.export", true},
		{"billing.payouts.approve", false},
	} {
		if got := identity.ReachesDanger(tt.p); got != tt.want {
			t.Errorf("ReachesDanger(%q) = %v, want %v", tt.p, got, tt.want)
		}
	}
	// The danger patterns end in a literal, so matchSegments (IsDangerAction)
	// and Grants read them alike.
	for _, d := range identity.DangerActions {
		if strings.HasSuffix(d, "*") {
			t.Errorf("danger pattern %q ends in *: IsDangerAction and Overlaps would disagree", d)
		}
	}
}

// brute-force semantics over a finite universe: every permission of up to
// maxLen segments over alphabet plus a name no pattern uses (so a "*" always
// has a permission only a "*" matches).
func universe(alphabet []string, maxLen int) []string {
	segs := append([]string{"fresh"}, alphabet...)
	out := []string{}
	level := []string{""}
	for n := 1; n <= maxLen; n++ {
		var next []string
		for _, pre := range level {
			for _, s := range segs {
				if pre == "" {
					next = append(next, s)
				} else {
					next = append(next, pre+"."+s)
				}
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

func bruteCovers(univ []string, held []string, pattern string) bool {
	for _, w := range univ {
		if !identity.Grants(pattern, w) {
			continue
		}
		if !identity.PermissionSet(held).Has(w) {
			return false
		}
	}
	return true
}

func bruteOverlaps(univ []string, a, b string) bool {
	for _, w := range univ {
		if identity.Grants(a, w) && identity.Grants(b, w) {
			return true
		}
	}
	return false
}

// patterns returns every pattern of 1..maxLen segments over alphabet and "*".
func patterns(alphabet []string, maxLen int) []string {
	segs := append([]string{"*"}, alphabet...)
	var out []string
	level := []string{""}
	for n := 1; n <= maxLen; n++ {
		var next []string
		for _, pre := range level {
			for _, s := range segs {
				if pre == "" {
					next = append(next, s)
				} else {
					next = append(next, pre+"."+s)
				}
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

// TestCoversMatchesBruteForce checks Covers and Overlaps against the
// runtime matcher (Grants) expanded over a finite universe: exhaustively for
// one held grant, and for random sets of several.
func TestCoversMatchesBruteForce(t *testing.T) {
	t.Parallel()
	alphabet := []string{"a", "b"}
	pats := patterns(alphabet, 3)
	univ := universe(alphabet, 4)
	for _, h := range pats {
		for _, p := range pats {
			if got, want := identity.Covers(identity.PermissionSet{h}, p), bruteCovers(univ, []string{h}, p); got != want {
				t.Fatalf("Covers([%q], %q) = %v, brute force says %v", h, p, got, want)
			}
			if got, want := identity.Overlaps(h, p), bruteOverlaps(univ, h, p); got != want {
				t.Fatalf("Overlaps(%q, %q) = %v, brute force says %v", h, p, got, want)
			}
		}
	}
	alphabet = []string{"a", "b", "c"}
	pats = patterns(alphabet, 4)
	univ = universe(alphabet, 5)
	r := rand.New(rand.NewPCG(8, 1))
	for i := 0; i < 3000; i++ {
		held := make([]string, r.IntN(4))
		for j := range held {
			held[j] = pats[r.IntN(len(pats))]
		}
		p := pats[r.IntN(len(pats))]
		if got, want := identity.Covers(identity.PermissionSet(held), p), bruteCovers(univ, held, p); got != want {
			t.Fatalf("Covers(%q, %q) = %v, brute force says %v", held, p, got, want)
		}
	}
}

// FuzzCovers compares Covers with brute force for fuzzed patterns: each
// byte picks a segment (a, b, c or *), a zero byte ends a pattern.
func FuzzCovers(f *testing.F) {
	f.Add([]byte{1, 3, 0, 1, 2, 0, 3})
	f.Add([]byte{3, 0, 1, 3, 1})
	f.Add([]byte{1, 3, 2, 0, 1, 2, 2, 0, 1, 3})
	segs := []string{"a", "b", "c", "*"}
	univ := universe([]string{"a", "b", "c"}, 5)
	f.Fuzz(func(t *testing.T, data []byte) {
		var pats []string
		var cur []string
		for _, b := range data {
			if b == 0 || len(cur) == 4 {
				if len(cur) > 0 {
					pats = append(pats, strings.Join(cur, "."))
				}
				cur = nil
				if b == 0 {
					continue
				}
			}
			cur = append(cur, segs[int(b)%len(segs)])
		}
		if len(cur) > 0 {
			pats = append(pats, strings.Join(cur, "."))
		}
		if len(pats) == 0 || len(pats) > 5 {
			return
		}
		p, held := pats[len(pats)-1], pats[:len(pats)-1]
		if got, want := identity.Covers(identity.PermissionSet(held), p), bruteCovers(univ, held, p); got != want {
			t.Fatalf("Covers(%q, %q) = %v, brute force says %v", held, p, got, want)
		}
	})
}
