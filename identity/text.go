package identity

import "unicode/utf8"

// BadText reports whether s holds a control character (U+0000–U+001F,
// U+007F–U+009F) or bytes that are not UTF-8. No name, e-mail, password,
// code or identifier may: PostgreSQL refuses NUL and invalid UTF-8 in text,
// SQLite would store them. multiLine lets tab, CR and LF through (for a
// multi-line text field; this API has none today).
func BadText(s string, multiLine bool) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			if multiLine && (r == '\t' || r == '\n' || r == '\r') {
				continue
			}
			return true
		}
	}
	return false
}
