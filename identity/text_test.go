package identity

import "testing"

func TestBadText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		s         string
		multiLine bool
		want      bool
	}{
		{"plain", "Ada Lovelace", false, false},
		{"unicode", "Zoë – 東京 🚀", false, false},
		{"empty", "", false, false},
		{"NUL", "a\x00b", false, true},
		{"ESC", "a\x1b[31m", false, true},
		{"DEL", "a\x7f", false, true},
		{"C1 NEL", "a\u0085b", false, true},
		{"tab", "a\tb", false, true},
		{"newline", "a\nb", false, true},
		{"invalid UTF-8", "a\xffb", false, true},
		{"tab in multi-line text", "a\tb", true, false},
		{"CRLF in multi-line text", "a\r\nb", true, false},
		{"NUL in multi-line text", "a\x00b", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BadText(tt.s, tt.multiLine); got != tt.want {
				t.Fatalf("BadText(%q, %v) = %v, want %v", tt.s, tt.multiLine, got, tt.want)
			}
		})
	}
}
