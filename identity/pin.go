package identity

import "github.com/identityd/identityd/models"

// CheckPIN applies the PIN rules: exactly 6 digits, not an ascending or
// descending run (123456, 654321, 345678), not one digit repeated (000000).
func CheckPIN(pin string) error {
	bad := func(code, msg string) error {
		return &models.Error{Kind: models.KindInvalid, Code: "pin_policy", Msg: "The PIN does not meet the rules.", Fields: map[string]string{"pin." + code: msg}}
	}
	if len(pin) != 6 {
		return bad("length", "Use exactly 6 digits.")
	}
	for _, r := range pin {
		if r < '0' || r > '9' {
			return bad("digits", "Use digits only.")
		}
	}
	asc, desc, same := true, true, true
	for i := 1; i < len(pin); i++ {
		d := int(pin[i]) - int(pin[i-1])
		asc = asc && d == 1
		desc = desc && d == -1
		same = same && d == 0
	}
	switch {
	case same:
		return bad("repeated", "Do not repeat one digit.")
	case asc, desc:
		return bad("sequence", "Do not use a run of consecutive digits.")
	}
	return nil
}
