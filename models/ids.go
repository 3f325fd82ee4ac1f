package models

// ValidID reports whether s is a UUID in its canonical 8-4-4-4-12 hex form,
// the only form ids are stored in. Every layer checks ids with this one
// function, so a malformed id is NotFound (or invalid input) the same way
// everywhere and never reaches a query as a uuid cast error.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
