package identity

import (
	"errors"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

func TestAuditCursor(t *testing.T) {
	t.Parallel()
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
