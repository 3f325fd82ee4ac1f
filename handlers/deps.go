package handlers

import (
	"fmt"
	"strings"
)

// checkServices names every missing service of d at once: a mis-wired
// server fails at start, never with a route silently missing or a 500 on
// the first request.
func (d Deps) checkServices() error {
	var missing []string
	for _, s := range []struct {
		name    string
		missing bool
	}{
		{"Login", d.Login == nil},
		{"Account", d.Account == nil},
		{"Password", d.Password == nil},
		{"TwoFactor", d.TwoFactor == nil},
		{"PIN", d.PIN == nil},
		{"Sessions", d.Sessions == nil},
		{"StepUp", d.StepUp == nil},
		{"Authorizer", d.Authorizer == nil},
		{"ClientAuth", d.ClientAuth == nil},
		{"Authenticator", d.Authenticator == nil},
		{"Users", d.Users == nil},
		{"Memberships", d.Memberships == nil},
		{"Roles", d.Roles == nil},
		{"Policies", d.Policies == nil},
		{"ClientRegistry", d.ClientRegistry == nil},
		{"ServiceAccounts", d.ServiceAccounts == nil},
		{"APIKeys", d.APIKeys == nil},
		{"TenantRegistry", d.TenantRegistry == nil},
		{"Impersonation", d.Impersonation == nil},
		{"AuditLog", d.AuditLog == nil},
		{"OneTimeCodes", d.OneTimeCodes == nil},
		{"PushDevices", d.PushDevices == nil},
		{"Invitations", d.Invitations == nil},
		{"ConsentRegistry", d.ConsentRegistry == nil},
		{"Privacy", d.Privacy == nil},
		{"Registration", d.Registration == nil},
		{"EmailVerification", d.EmailVerification == nil},
		{"Webhooks", d.Webhooks == nil},
		// Issue 12 §1: identity providers, admin and account side.
		{"IdentityProviders", d.IdentityProviders == nil},
		{"LinkedIdentities", d.LinkedIdentities == nil},
		{"Passkeys", d.Passkeys == nil}, // issue 12 §2
	} {
		if s.missing {
			missing = append(missing, s.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("handlers.New: missing Deps.%s", strings.Join(missing, ", Deps."))
	}
	return nil
}
