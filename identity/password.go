package identity

import (
	"strings"
	"unicode"

	"github.com/identityd/identityd/models"
)

// PasswordRule is one rule of the password policy.
type PasswordRule struct {
	Code string
	Msg  string
	fail func(pw, email string) bool
}

// MinPasswordLen is the shortest password the policy accepts.
const MinPasswordLen = 12

// maxPasswordBytes is what bcrypt reads.
const maxPasswordBytes = 72

func hasRune(s string, f func(rune) bool) bool { return strings.IndexFunc(s, f) >= 0 }

// PasswordRules is the policy: every rule is checked and every failure reported.
var PasswordRules = []PasswordRule{
	{"min_length", "Use at least 12 characters.", func(pw, _ string) bool { return len([]rune(pw)) < MinPasswordLen }},
	{"max_length", "Use at most 72 bytes.", func(pw, _ string) bool { return len(pw) > maxPasswordBytes }},
	{"uppercase", "Include an upper-case letter.", func(pw, _ string) bool { return !hasRune(pw, unicode.IsUpper) }},
	{"lowercase", "Include a lower-case letter.", func(pw, _ string) bool { return !hasRune(pw, unicode.IsLower) }},
	{"digit", "Include a digit.", func(pw, _ string) bool { return !hasRune(pw, unicode.IsDigit) }},
	{"special", "Include a special character (not a letter or digit).", func(pw, _ string) bool {
		return !hasRune(pw, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) })
	}},
	{"contains_email", "Do not use your e-mail name inside the password.", func(pw, email string) bool {
		local, _, _ := strings.Cut(strings.ToLower(email), "@")
		return len(local) >= 3 && strings.Contains(strings.ToLower(pw), local)
	}},
}

// CheckPassword applies the policy; the error lists every failed rule as
// fields "password.<rule>" (422).
func CheckPassword(pw, email string) error {
	fields := map[string]string{}
	for _, r := range PasswordRules {
		if r.fail(pw, email) {
			fields["password."+r.Code] = r.Msg
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &models.Error{Kind: models.KindInvalid, Code: "password_policy", Msg: "The password does not meet the policy.", Fields: fields}
}
