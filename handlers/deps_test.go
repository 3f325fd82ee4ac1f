package handlers_test

import (
	"strings"
	"testing"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
)

// fullDeps fills every service field with a typed nil: New only checks
// presence, and the compiler checks that each identity service fits its
// field's consumer interface.
func fullDeps() handlers.Deps {
	return handlers.Deps{
		Login: (*identity.Login)(nil), Account: (*identity.Account)(nil), Password: (*identity.Password)(nil),
		TwoFactor: (*identity.TwoFactor)(nil), PIN: (*identity.PIN)(nil), Sessions: (*identity.Sessions)(nil),
		StepUp: (*identity.StepUp)(nil), Authorizer: (*identity.Authorizer)(nil), ClientAuth: (*identity.ClientAuthThrottle)(nil),
		Authenticator: (*identity.Authenticator)(nil), Users: (*identity.Users)(nil), Memberships: (*identity.Memberships)(nil),
		Roles: (*identity.Roles)(nil), Policies: (*identity.Policies)(nil), ClientRegistry: (*identity.Clients)(nil),
		ServiceAccounts: (*identity.ServiceAccounts)(nil), APIKeys: (*identity.APIKeys)(nil), TenantRegistry: (*identity.Tenants)(nil),
		Impersonation: (*identity.Impersonation)(nil), AuditLog: (*identity.AuditLog)(nil),
		OneTimeCodes:    (*identity.OneTimeCodes)(nil),
		PushDevices:     (*identity.PushDevices)(nil),
		Invitations:     (*identity.Invitations)(nil),
		ConsentRegistry: (*identity.Consents)(nil),
		Privacy:         (*identity.Privacy)(nil),
		Registration:    (*identity.Registration)(nil),
		// Issue 10 §2.
		EmailVerification: (*identity.EmailVerification)(nil),
		// Issue 11 §3.
		Webhooks: (*identity.Webhooks)(nil),
		// Issue 12 §1.
		IdentityProviders: (*identity.IdentityProviders)(nil),
		LinkedIdentities:  (*identity.LinkedIdentities)(nil),
		// Issue 12 §2.
		Passkeys: (*identity.Passkeys)(nil),
	}
}

var services = []struct {
	field string
	clear func(d *handlers.Deps)
}{
	{"OneTimeCodes", func(d *handlers.Deps) { d.OneTimeCodes = nil }},
	{"Passkeys", func(d *handlers.Deps) { d.Passkeys = nil }},
	{"ConsentRegistry", func(d *handlers.Deps) { d.ConsentRegistry = nil }},
	{"Privacy", func(d *handlers.Deps) { d.Privacy = nil }},
	{"Registration", func(d *handlers.Deps) { d.Registration = nil }},
	{"Login", func(d *handlers.Deps) { d.Login = nil }},
	{"Account", func(d *handlers.Deps) { d.Account = nil }},
	{"Password", func(d *handlers.Deps) { d.Password = nil }},
	{"TwoFactor", func(d *handlers.Deps) { d.TwoFactor = nil }},
	{"PIN", func(d *handlers.Deps) { d.PIN = nil }},
	{"Sessions", func(d *handlers.Deps) { d.Sessions = nil }},
	{"StepUp", func(d *handlers.Deps) { d.StepUp = nil }},
	{"Authorizer", func(d *handlers.Deps) { d.Authorizer = nil }},
	{"ClientAuth", func(d *handlers.Deps) { d.ClientAuth = nil }},
	{"Authenticator", func(d *handlers.Deps) { d.Authenticator = nil }},
	{"Users", func(d *handlers.Deps) { d.Users = nil }},
	{"Memberships", func(d *handlers.Deps) { d.Memberships = nil }},
	{"Roles", func(d *handlers.Deps) { d.Roles = nil }},
	{"Policies", func(d *handlers.Deps) { d.Policies = nil }},
	{"ClientRegistry", func(d *handlers.Deps) { d.ClientRegistry = nil }},
	{"ServiceAccounts", func(d *handlers.Deps) { d.ServiceAccounts = nil }},
	{"APIKeys", func(d *handlers.Deps) { d.APIKeys = nil }},
	{"TenantRegistry", func(d *handlers.Deps) { d.TenantRegistry = nil }},
	{"Impersonation", func(d *handlers.Deps) { d.Impersonation = nil }},
	{"AuditLog", func(d *handlers.Deps) { d.AuditLog = nil }},
	{"PushDevices", func(d *handlers.Deps) { d.PushDevices = nil }},
	{"Invitations", func(d *handlers.Deps) { d.Invitations = nil }},
	{"EmailVerification", func(d *handlers.Deps) { d.EmailVerification = nil }},
	{"Webhooks", func(d *handlers.Deps) { d.Webhooks = nil }},
	{"IdentityProviders", func(d *handlers.Deps) { d.IdentityProviders = nil }},
	{"LinkedIdentities", func(d *handlers.Deps) { d.LinkedIdentities = nil }},
}

// TestNewNamesMissingServices: a server wired without a service does not
// start with routes missing or answer 500 at request time; New refuses it
// and names every missing one.
func TestNewNamesMissingServices(t *testing.T) {
	t.Parallel()
	_, err := handlers.New(handlers.Deps{})
	if err == nil {
		t.Fatal("New without services: no error")
	}
	for _, s := range services {
		if !strings.Contains(err.Error(), "Deps."+s.field) {
			t.Errorf("%v does not name Deps.%s", err, s.field)
		}
	}
	for _, s := range services {
		t.Run(s.field, func(t *testing.T) {
			d := fullDeps()
			s.clear(&d)
			_, err := handlers.New(d)
			if err == nil || !strings.Contains(err.Error(), "missing Deps."+s.field) {
				t.Fatalf("New without %s: %v; want an error naming it", s.field, err)
			}
			for _, other := range services {
				if other.field != s.field && strings.Contains(err.Error(), "Deps."+other.field+",") || other.field != s.field && strings.HasSuffix(err.Error(), "Deps."+other.field) {
					t.Errorf("New without %s also names %s: %v", s.field, other.field, err)
				}
			}
		})
	}
}
