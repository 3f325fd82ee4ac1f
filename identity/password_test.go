package identity_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	const email = "ada.lovelace@example.com"
	cases := []struct {
		name  string
		pw    string
		email string
		want  []string // failed rules, without the "password." prefix
	}{
		{"valid", "Correct-Horse-9", email, nil},
		{"valid, exactly 12", "Abcdefgh1!xy", email, nil},
		{"valid, unicode letters", "Ünïcödé-Pässwörd-9", email, nil},
		{"valid, 72 bytes", "Aa1!" + strings.Repeat("x", 68), email, nil},
		{"too short", "Ab1!efgh", email, []string{"min_length"}},
		{"11 characters", "Abcdefgh1!x", email, []string{"min_length"}},
		{"too long for bcrypt", "Aa1!" + strings.Repeat("x", 69), email, []string{"max_length"}},
		{"no upper-case letter", "abcdefgh1!xy", email, []string{"uppercase"}},
		{"no lower-case letter", "ABCDEFGH1!XY", email, []string{"lowercase"}},
		{"no digit", "Abcdefghij!x", email, []string{"digit"}},
		{"no special character", "Abcdefghij1x", email, []string{"special"}},
		{"e-mail local part inside", "X-ada.lovelace-9", email, []string{"contains_email"}},
		{"e-mail local part, other case", "X-ADA.LoveLace-9", email, []string{"contains_email"}},
		{"e-mail local part is the whole", "Ada.Lovelace1#", "ada.lovelace1@example.com", []string{"contains_email"}},
		{"other e-mail", "X-ada.lovelace-9", "grace@example.com", nil},
		{"several", "abc", email, []string{"min_length", "uppercase", "digit", "special"}},
		{"empty", "", email, []string{"min_length", "uppercase", "lowercase", "digit", "special"}},
		{"digits only", "123456789012", email, []string{"uppercase", "lowercase", "special"}},
		{"several with the e-mail", "ada.lovelace", email, []string{"uppercase", "digit", "contains_email"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := identity.CheckPassword(tc.pw, tc.email)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckPassword(%q) = %v, want nil", tc.pw, err)
				}
				return
			}
			var me *models.Error
			if !errors.As(err, &me) {
				t.Fatalf("CheckPassword(%q) = %v, want a *models.Error", tc.pw, err)
			}
			if me.Kind != models.KindInvalid || me.Code != "password_policy" {
				t.Errorf("kind %v code %q, want invalid password_policy", me.Kind, me.Code)
			}
			var got []string
			for k, msg := range me.Fields {
				if !strings.HasPrefix(k, "password.") {
					t.Errorf("field %q lacks the password. prefix", k)
				}
				if msg == "" {
					t.Errorf("field %q has no message", k)
				}
				got = append(got, strings.TrimPrefix(k, "password."))
			}
			want := append([]string(nil), tc.want...)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("CheckPassword(%q) failed %v, want %v", tc.pw, got, want)
			}
		})
	}
}

// Every rule the policy lists is reachable on its own.
func TestCheckPasswordRulesListed(t *testing.T) {
	t.Parallel()
	want := map[string]bool{"min_length": true, "max_length": true, "uppercase": true, "lowercase": true, "digit": true, "special": true, "contains_email": true}
	for _, r := range identity.PasswordRules {
		if !want[r.Code] {
			t.Errorf("unexpected rule %q", r.Code)
		}
		if r.Msg == "" {
			t.Errorf("rule %q has no message", r.Code)
		}
		delete(want, r.Code)
	}
	if len(want) > 0 {
		t.Errorf("rules missing: %v", want)
	}
}
