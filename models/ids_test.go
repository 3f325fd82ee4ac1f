package models

import "testing"

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"0b6e1f4a-3c2d-4e5f-8a9b-0c1d2e3f4a5b":   true,
		"0B6E1F4A-3C2D-4E5F-8A9B-0C1D2E3F4A5B":   true,
		"":                                       false,
		"0b6e1f4a3c2d4e5f8a9b0c1d2e3f4a5b":       false,
		"{0b6e1f4a-3c2d-4e5f-8a9b-0c1d2e3f4a5b}": false,
		"0b6e1f4a-3c2d-4e5f-8a9b-0c1d2e3f4a5g":   false,
		"0b6e1f4a-3c2d-4e5f-8a9b_0c1d2e3f4a5b":   false,
		"' OR 1=1 --":                            false,
	} {
		if got := ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}
