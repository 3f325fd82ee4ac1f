package handlers

import (
	"strings"
	"testing"
)

// TestNewNamesMissingServices: a server wired without its services does not
// start with routes missing; New names every one.
func TestNewNamesMissingServices(t *testing.T) {
	_, err := New(Deps{})
	if err == nil {
		t.Fatal("New without services: no error")
	}
	for _, name := range []string{"Authenticator", "Users", "Memberships", "Roles", "Policies", "ClientRegistry",
		"ServiceAccounts", "APIKeys", "TenantRegistry", "Impersonation", "AuditLog"} {
		if !strings.Contains(err.Error(), "Deps."+name) {
			t.Errorf("%v does not name Deps.%s", err, name)
		}
	}
}
