package identity_test

import (
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
)

func TestValidOTPPurpose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		purpose string
		want    bool
	}{
		{"payment.confirm", true},
		{"wallet:withdraw", true},
		{"a", true},
		{"device_pair-2", true},
		{strings.Repeat("p", 64), true},
		{"", false},
		{strings.Repeat("p", 65), false},
		{"Payment", false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
		{"a\n", false},
	}
	for _, tt := range tests {
		if got := identity.ValidOTPPurpose(tt.purpose); got != tt.want {
			t.Errorf("ValidOTPPurpose(%q) = %v, want %v", tt.purpose, got, tt.want)
		}
	}
}
