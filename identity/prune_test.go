package identity

import (
	"strings"
	"testing"
	"time"
)

func TestPrunerLeaseTTL(t *testing.T) {
	t.Parallel()
	p := &Pruner{interval: 24 * time.Hour}
	if got := p.leaseTTL(); got != 24*time.Hour-144*time.Minute {
		t.Fatalf("lease ttl %s", got)
	}
	// The holder comes from wiring (host, pid, random suffix): a pruner
	// without one would share the lease row's name with every other.
	if _, err := NewPruner(PrunerDeps{Store: nilPruneStore{}}); err == nil || !strings.Contains(err.Error(), "Holder") {
		t.Fatalf("NewPruner without a holder: %v", err)
	}
	if !IsUUID("0b1c2d3e-4f50-4617-8899-aabbccddeeff") || IsUUID("0b1c2d3e4f5046178899aabbccddeeff0000") || IsUUID("") {
		t.Fatal("IsUUID")
	}
}

// nilPruneStore is a PruneStore that is never called.
type nilPruneStore struct{ PruneStore }
