package identity_test

import (
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
)

func TestPermissionGrants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		granted, required string
		want              bool
	}{
		{"exact", "identity.users.read", "identity.users.read", true},
		{"exact other action", "identity.users.read", "identity.users.create", false},
		{"trailing star covers its segment", "identity.users.*", "identity.users.read", true},
		{"trailing star covers danger action", "identity.users.*", "identity.users.delete", true},
		{"trailing star not a sibling", "identity.users.*", "identity.roles.read", false},
		{"trailing star needs a segment", "identity.users.*", "identity.users", false},
		{"namespace star covers roles.delete", "identity.*", "identity.roles.delete", true},
		{"namespace star covers deep", "identity.*", "identity.service_account.api_keys.list", true},
		{"namespace star not another namespace", "identity.*", "admin.tenants.read", false},
		{"star covers everything", "*", "identity.users.read", true},
		{"star covers admin", "*", "admin.users.system_admin", true},
		{"star covers tenant perms", "*", "tenant.acme.crm.tasks.delete", true},
		{"inner star one segment", "tenant.*.crm.tasks.delete", "tenant.acme.crm.tasks.delete", true},
		{"inner star not two segments", "tenant.*.crm.tasks.delete", "tenant.x.y.crm.tasks.delete", false},
		{"inner star not zero segments", "tenant.*.crm.tasks.delete", "tenant.crm.tasks.delete", false},
		{"inner star other action", "tenant.*.crm.tasks.delete", "tenant.acme.crm.tasks.read", false},
		{"inner and trailing", "tenant.*.crm.*", "tenant.acme.crm.deals.delete", true},
		{"no partial segment prefix", "identity.user", "identity.users.read", false},
		{"no partial segment glob", "identity.us*", "identity.users.read", false},
		{"no partial segment suffix", "identity.users.rea", "identity.users.read", false},
		{"longer grant does not cover shorter", "identity.users.read.all", "identity.users.read", false},
		{"shorter exact grant does not cover longer", "identity.users", "identity.users.read", false},
		{"empty grant", "", "identity.users.read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.Grants(tt.granted, tt.required); got != tt.want {
				t.Errorf("Grants(%q, %q) = %v, want %v", tt.granted, tt.required, got, tt.want)
			}
		})
	}
}

func TestPermissionSetHas(t *testing.T) {
	t.Parallel()
	set := identity.PermissionSet{"identity.profile.read", "tenant.*.crm.contacts.*"}
	tests := []struct {
		perm string
		want bool
	}{
		{"identity.profile.read", true},
		{"identity.profile.update", false},
		{"tenant.acme.crm.contacts.delete", true},
		{"tenant.acme.crm.deals.delete", false},
		{"tenant.a.b.crm.contacts.read", false},
	}
	for _, tt := range tests {
		if got := set.Has(tt.perm); got != tt.want {
			t.Errorf("Has(%q) = %v, want %v", tt.perm, got, tt.want)
		}
	}
	if (identity.PermissionSet{}).Has("identity.profile.read") {
		t.Error("an empty set holds nothing")
	}
}

func TestIsDangerAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		perm string
		want bool
	}{
		{"identity.users.delete", true},
		{"identity.users.reset_2fa", true},
		{"identity.roles.delete", true},
		{"identity.membership.assign_role", true},
		{"identity.oauth_client.rotate", true},
		{"identity.users.read", false},
		{"identity.users.create", false},
		// Paths that can grant a danger action are danger actions (issue 8).
		{"identity.membership.manage", true},
		{"identity.roles.update", true},
		{"identity.policies.update", true},
		{"identity.oauth_clients.bind", true},
		{"identity.roles.create", false},
		{"identity.policies.create", false},
		{"tenant.acme.crm.tasks.delete", true},
		{"tenant.acme.webshop.orders.refund", true},
		{"tenant.acme.ws_proxy.keys.rotate", true},
		{"tenant.acme.crm.tasks.read", false},
		{"tenant.x.y.crm.tasks.delete", false},  // "*" is exactly one segment
		{"tenant.crm.tasks.delete", false},      // and never none
		{"identity.users.delete.extra", false},  // no prefix matches
		{"identity.users", false},               // nor shorter ones
		{"tenant.*.crm.tasks.delete", true},     // a pattern matches itself
		{"TENANT.acme.crm.tasks.delete", false}, // case matters
	}
	for _, tt := range tests {
		if got := identity.IsDangerAction(tt.perm); got != tt.want {
			t.Errorf("IsDangerAction(%q) = %v, want %v", tt.perm, got, tt.want)
		}
	}
	if n := len(identity.DangerActions); n < 30 || n > 50 {
		t.Errorf("%d danger patterns, want about 40", n)
	}
	areas := map[string]bool{}
	for _, p := range identity.DangerActions {
		if !identity.ValidPermission(p) {
			t.Errorf("danger pattern %q is not a valid permission", p)
		}
		seg := strings.Split(p, ".")
		if seg[0] == "tenant" {
			areas[seg[2]] = true
		} else {
			areas[seg[0]] = true
		}
	}
	for _, a := range []string{"identity", "crm", "warehouse", "webshop", "webhook", "analytics", "email", "ws_proxy"} {
		if !areas[a] {
			t.Errorf("no danger pattern for %s", a)
		}
	}
}

func TestCatalogue(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, p := range identity.Catalogue {
		if !identity.ValidPermission(p) {
			t.Errorf("catalogue entry %q is not a valid permission", p)
		}
		if strings.Contains(p, "*") {
			t.Errorf("catalogue entry %q holds a wildcard", p)
		}
		if seen[p] {
			t.Errorf("catalogue entry %q appears twice", p)
		}
		seen[p] = true
	}
	for _, p := range []string{"identity.membership.manage", "identity.membership.assign_role", "identity.oauth_client.rotate",
		"identity.service_account.api_keys.list", "admin.users.system_admin", "identity.users.reset_2fa"} {
		if !seen[p] {
			t.Errorf("catalogue lacks %q", p)
		}
	}
}

func TestValidPermission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		perm string
		want bool
	}{
		{"identity.users.read", true},
		{"*", true},
		{"identity.*", true},
		{"tenant.*.crm.tasks.delete", true},
		{"tenant.acme-1.crm.tasks.delete", true},
		{"", false},
		{".", false},
		{"identity..read", false},
		{"identity.users.", false},
		{".identity", false},
		{"Identity.users.read", false},
		{"identity users", false},
		{"identity.us*", false},
		{"identity.users.read;drop", false},
		{strings.Repeat("a", 201), false},
	}
	for _, tt := range tests {
		if got := identity.ValidPermission(tt.perm); got != tt.want {
			t.Errorf("ValidPermission(%q) = %v, want %v", tt.perm, got, tt.want)
		}
	}
}

func TestSystemRoles(t *testing.T) {
	t.Parallel()
	roles := identity.SystemRoles()
	for _, name := range []string{identity.RoleOwner, identity.RoleAdmin, identity.RoleManager, identity.RoleMember} {
		perms, ok := roles[name]
		if !ok || len(perms) == 0 {
			t.Fatalf("system role %s missing or empty", name)
		}
		set := identity.PermissionSet(perms)
		for _, p := range perms {
			if identity.IsDangerAction(p) {
				t.Errorf("%s holds danger action %s", name, p)
			}
			if strings.HasPrefix(p, "admin.") {
				t.Errorf("%s holds %s", name, p)
			}
		}
		for _, p := range identity.Catalogue {
			if strings.HasPrefix(p, "admin.") && set.Has(p) {
				t.Errorf("%s covers %s", name, p)
			}
		}
		for _, p := range identity.DangerActions {
			if set.Has(p) {
				t.Errorf("%s covers danger action %s", name, p)
			}
		}
	}
	owner := identity.PermissionSet(roles[identity.RoleOwner])
	for _, r := range []string{identity.RoleAdmin, identity.RoleManager, identity.RoleMember} {
		for _, p := range roles[r] {
			if !owner.Has(p) {
				t.Errorf("%s holds %s, which Owner does not", r, p)
			}
		}
	}
	for _, p := range []string{"identity.users.create", "identity.roles.create", "identity.policies.create", "identity.tenants.read"} {
		if !owner.Has(p) {
			t.Errorf("Owner lacks %s", p)
		}
	}
	// Granting through an assigned policy or an edited role is a danger
	// action: the Danger Zone policy carries it, the Owner role does not.
	for _, p := range []string{"identity.membership.manage", "identity.roles.update", "identity.policies.update", "identity.oauth_clients.bind"} {
		if owner.Has(p) {
			t.Errorf("Owner holds danger action %s", p)
		}
	}
	if identity.PermissionSet(roles[identity.RoleAdmin]).Has("identity.roles.create") {
		t.Error("Admin can create roles")
	}
	if identity.PermissionSet(roles[identity.RoleMember]).Has("identity.users.read") {
		t.Error("Member can read users")
	}
}
