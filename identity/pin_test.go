package identity_test

import (
	"errors"
	"testing"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

func TestCheckPIN(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pin  string
		want string // the failed rule, "" for a valid PIN
	}{
		{"258147", ""},
		{"135790", ""},
		{"112233", ""},
		{"123457", ""},
		{"012346", ""},
		{"000001", ""},
		{"121212", ""},
		{"123456", "sequence"},
		{"234567", "sequence"},
		{"345678", "sequence"},
		{"456789", "sequence"},
		{"012345", "sequence"},
		{"654321", "sequence"},
		{"987654", "sequence"},
		{"543210", "sequence"},
		{"000000", "repeated"},
		{"111111", "repeated"},
		{"999999", "repeated"},
		{"12345", "length"},
		{"1234567", "length"},
		{"", "length"},
		{"2581470", "length"},
		{"١٢٣٤٥٦", "length"}, // Arabic-Indic digits: 12 bytes
		{"abcdef", "digits"},
		{"12345a", "digits"},
		{"12 456", "digits"},
		{"-12345", "digits"},
		{"+25814", "digits"},
	}
	for _, tc := range cases {
		t.Run(tc.pin, func(t *testing.T) {
			err := identity.CheckPIN(tc.pin)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckPIN(%q) = %v, want nil", tc.pin, err)
				}
				return
			}
			var me *models.Error
			if !errors.As(err, &me) {
				t.Fatalf("CheckPIN(%q) = %v, want a *models.Error", tc.pin, err)
			}
			if me.Kind != models.KindInvalid || me.Code != "pin_policy" {
				t.Errorf("kind %v code %q, want invalid pin_policy", me.Kind, me.Code)
			}
			if len(me.Fields) != 1 || me.Fields["pin."+tc.want] == "" {
				t.Errorf("CheckPIN(%q) fields %v, want pin.%s", tc.pin, me.Fields, tc.want)
			}
		})
	}
}
