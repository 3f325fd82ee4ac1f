package handlers_test

import (
	"strings"
	"testing"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
)

// TestNewRequiresAccountServices: a server missing one of its account
// services is refused at construction, by name, instead of answering 500
// (or lacking routes) at request time.
func TestNewRequiresAccountServices(t *testing.T) {
	// Typed nil pointers fill the interfaces: New only checks presence,
	// and the compiler checks that each identity service fits its field.
	full := handlers.Deps{
		Login: (*identity.Login)(nil), Account: (*identity.Account)(nil), Password: (*identity.Password)(nil),
		TwoFactor: (*identity.TwoFactor)(nil), PIN: (*identity.PIN)(nil), Sessions: (*identity.Sessions)(nil),
		StepUp: (*identity.StepUp)(nil), Authorizer: (*identity.Authorizer)(nil), ClientAuth: (*identity.ClientAuthThrottle)(nil),
	}
	tests := []struct {
		field string
		clear func(d *handlers.Deps)
	}{
		{"Login", func(d *handlers.Deps) { d.Login = nil }},
		{"Account", func(d *handlers.Deps) { d.Account = nil }},
		{"Password", func(d *handlers.Deps) { d.Password = nil }},
		{"TwoFactor", func(d *handlers.Deps) { d.TwoFactor = nil }},
		{"PIN", func(d *handlers.Deps) { d.PIN = nil }},
		{"Sessions", func(d *handlers.Deps) { d.Sessions = nil }},
		{"StepUp", func(d *handlers.Deps) { d.StepUp = nil }},
		{"Authorizer", func(d *handlers.Deps) { d.Authorizer = nil }},
		{"ClientAuth", func(d *handlers.Deps) { d.ClientAuth = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			d := full
			tt.clear(&d)
			e, err := handlers.New(d)
			if err == nil || !strings.Contains(err.Error(), "Deps."+tt.field+" is required") {
				t.Fatalf("New without %s: %v, %v; want an error naming it", tt.field, e, err)
			}
		})
	}
}
