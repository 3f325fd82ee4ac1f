package identity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

func TestAuditCursor(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	id := "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
	gotT, gotID, err := DecodeAuditCursor(EncodeAuditCursor(at, id))
	if err != nil || !gotT.Equal(at) || gotID != id || gotT.Location() != time.UTC {
		t.Fatalf("round trip: %v %q %v", gotT, gotID, err)
	}
	tests := []struct{ name, cursor string }{
		{"not base64", "!!!"},
		{"no separator", EncodeAuditCursor(at, id)[:10]},
		{"bad id", EncodeAuditCursor(at, "x' OR 1=1 --")},
		{"too long", string(make([]byte, 300))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeAuditCursor(tt.cursor)
			if !errors.Is(err, models.ErrInvalid(nil)) {
				t.Fatalf("want a validation error, got %v", err)
			}
		})
	}
}

func TestPrunerLeaseTTL(t *testing.T) {
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
