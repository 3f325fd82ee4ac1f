package identity

import "strings"

// Permissions are dotted strings, named once in permission_names.go. This
// file lists them: role seeding and the runtime read the same values, so
// they cannot drift.

// Catalogue is every permission this service checks.
var Catalogue = []string{
	PermUsersRead, PermUsersCreate, PermUsersUpdate, PermUsersDelete,
	PermUsersDeactivate, PermUsersForcePasswordChange, PermUsersUnlock, PermUsersReset2FA,
	PermUsersExport, PermUsersErase,
	PermTenantsRead, PermTenantsUpdate,
	PermTenantsDelete,
	PermRolesRead, PermRolesCreate, PermRolesUpdate, PermRolesDelete,
	PermPoliciesRead, PermPoliciesCreate, PermPoliciesUpdate, PermPoliciesDelete,
	PermAuditRead, PermAuditExport,
	PermDevicesRead, PermDevicesDelete,
	PermProfileRead, PermProfileUpdate,
	PermAuthorizationsCheck,
	PermServiceAccountsRead, PermServiceAccountsCreate, PermServiceAccountsUpdate, PermServiceAccountsDelete,
	PermAPIKeysCreate, PermAPIKeysDelete, PermAPIKeysRotate,
	PermServiceAccountAPIKeysList,
	PermOAuthClientsRead, PermOAuthClientsCreate, PermOAuthClientsUpdate, PermOAuthClientsDelete,
	PermOAuthClientRotate, PermOAuthClientsBind,
	PermMembershipManage, PermMembershipAssignRole,
	PermOTPSend, PermOTPVerify,
	PermPushDevicesRead,
	PermInvitationsRead, PermInvitationsCreate, PermInvitationsRevoke,
	PermWebhooksRead, PermWebhooksCreate, PermWebhooksUpdate, PermWebhooksDelete, PermWebhooksRotate,
	PermIdentityProvidersRead, PermIdentityProvidersCreate, PermIdentityProvidersUpdate, PermIdentityProvidersDelete,
	PermAdminTenantsRead, PermAdminTenantsCreate, PermAdminTenantsUpdate, PermAdminTenantsDelete, PermAdminTenantsSuspend,
	PermAdminUsersRead, PermAdminUsersSystemAdmin, PermAdminUsersImpersonate,
	PermAdminAuditRead,
}

// DangerActions are the destructive actions that need a recent step-up even
// when permitted: matched segment by segment, "*" standing for one segment.
// The Owner role never carries them; the danger-zone policy grants them.
var DangerActions = []string{
	// identity
	PermUsersDelete,
	PermUsersReset2FA,
	PermTenantsUpdate,
	PermRolesDelete,
	PermPoliciesDelete,
	PermServiceAccountsDelete,
	PermAPIKeysDelete,
	PermAPIKeysRotate,
	PermOAuthClientsDelete,
	PermOAuthClientRotate,
	PermAuditExport,
	PermUsersExport,
	PermMembershipAssignRole,
	// Every path that can grant a danger action is one itself (issue 8):
	// assigning a policy, editing a role's or a policy's permissions, binding
	// an OAuth client to a service account (identity.oauth_clients.bind).
	PermMembershipManage,
	PermRolesUpdate,
	PermPoliciesUpdate,
	PermOAuthClientsBind,
	// Issue 10: a user's full push tokens, which let the holder notify them.
	PermPushDevicesRead,
	// Issue 10, part 9: erasing a user (GDPR Art. 17).
	PermUsersErase,
	// Issue 10, part 3: deleting one's own tenant (and cancelling that).
	PermTenantsDelete,
	// crm
	"tenant.*.crm.contacts.delete",
	"tenant.*.crm.companies.delete",
	"tenant.*.crm.tasks.delete",
	"tenant.*.crm.deals.delete",
	"tenant.*.crm.pipelines.delete",
	"tenant.*.crm.export",
	// warehouse
	"tenant.*.warehouse.items.delete",
	"tenant.*.warehouse.stock.adjust",
	"tenant.*.warehouse.locations.delete",
	"tenant.*.warehouse.inventory.reset",
	// webshop
	"tenant.*.webshop.orders.refund",
	"tenant.*.webshop.orders.delete",
	"tenant.*.webshop.products.delete",
	"tenant.*.webshop.payments.update",
	// webhook
	"tenant.*.webhook.endpoints.delete",
	"tenant.*.webhook.endpoints.update",
	"tenant.*.webhook.secrets.rotate",
	// analytics
	"tenant.*.analytics.data.delete",
	"tenant.*.analytics.export",
	// email
	"tenant.*.email.campaigns.send",
	"tenant.*.email.lists.delete",
	"tenant.*.email.domains.delete",
	// ws_proxy
	"tenant.*.ws_proxy.routes.delete",
	"tenant.*.ws_proxy.routes.update",
	"tenant.*.ws_proxy.keys.rotate",
	// Issue 11 §3: a webhook's signing secret.
	PermWebhooksRotate,
}

// System role names seeded in every tenant.
const (
	RoleOwner   = "Owner"
	RoleAdmin   = "Admin"
	RoleManager = "Manager"
	RoleMember  = "Member"
	// DangerZonePolicy grants the danger actions; assign it deliberately.
	DangerZonePolicy = "Danger Zone"
)

// IsDangerAction reports whether perm matches a danger pattern.
func IsDangerAction(perm string) bool {
	for _, p := range DangerActions {
		if matchSegments(p, perm) {
			return true
		}
	}
	return false
}

// matchSegments matches perm against pattern segment by segment, "*"
// matching exactly one segment.
func matchSegments(pattern, perm string) bool {
	p, q := pattern, perm
	for {
		ps, prest, pmore := strings.Cut(p, ".")
		qs, qrest, qmore := strings.Cut(q, ".")
		if ps != "*" && ps != qs {
			return false
		}
		if pmore != qmore {
			return false
		}
		if !pmore {
			return true
		}
		p, q = prest, qrest
	}
}

// Grants reports whether a granted permission (which may hold wildcards)
// covers the required one: "*" covers everything; a trailing "*" covers
// every permission below its prefix ("identity.users.*" covers
// "identity.users.read", "identity.*" all of identity); a "*" between
// segments matches exactly one segment ("tenant.*.crm.tasks.delete" covers
// "tenant.acme.crm.tasks.delete", not "tenant.x.y.crm.tasks.delete").
func Grants(granted, required string) bool {
	if granted == "*" || granted == required {
		return true
	}
	// Walk both strings segment by segment without allocating.
	g, r := granted, required
	for {
		gs, grest, gmore := strings.Cut(g, ".")
		if gs == "*" && !gmore {
			return r != "" // a trailing * covers at least one segment
		}
		if r == "" {
			return false
		}
		rs, rrest, rmore := strings.Cut(r, ".")
		if gs != "*" && gs != rs {
			return false
		}
		if !gmore || !rmore {
			return !gmore && !rmore
		}
		g, r = grest, rrest
	}
}

// PermissionSet is a principal's resolved grants.
type PermissionSet []string

// Has reports whether any grant covers perm.
func (s PermissionSet) Has(perm string) bool {
	for _, g := range s {
		if Grants(g, perm) {
			return true
		}
	}
	return false
}

// ValidPermission reports whether p is a well-formed permission or pattern:
// dotted segments of [a-z0-9_] or "*".
func ValidPermission(p string) bool {
	if p == "" || len(p) > 200 {
		return false
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "*" {
			continue
		}
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				return false
			}
		}
	}
	return true
}

// SystemRoles returns the permissions of the roles seeded in every tenant.
func SystemRoles() map[string][]string {
	var owner []string
	for _, p := range Catalogue {
		if !strings.HasPrefix(p, "admin.") && !IsDangerAction(p) {
			owner = append(owner, p)
		}
	}
	pick := func(prefixes ...string) []string {
		var out []string
		for _, p := range owner {
			for _, pre := range prefixes {
				if strings.HasPrefix(p, pre) {
					out = append(out, p)
					break
				}
			}
		}
		return out
	}
	// Admin manages people, machines and clients, but not the tenant itself
	// nor the permission model (the tenant, roles and policies are
	// read-only to it).
	var admin []string
	for _, p := range owner {
		switch {
		case strings.HasPrefix(p, "identity.tenants.") && p != PermTenantsRead,
			strings.HasPrefix(p, "identity.roles.") && p != PermRolesRead,
			strings.HasPrefix(p, "identity.policies.") && p != PermPoliciesRead:
		default:
			admin = append(admin, p)
		}
	}
	manager := pick("identity.users.read", "identity.users.update", "identity.users.unlock", "identity.devices.",
		"identity.profile.", "identity.authorizations.", "identity.roles.read", "identity.audit.read")
	member := pick("identity.profile.", PermAuthorizationsCheck)
	return map[string][]string{RoleOwner: owner, RoleAdmin: admin, RoleManager: manager, RoleMember: member}
}

// Covers reports whether the held grants cover every permission pattern can
// match, judged by the glob semantics of Grants: pattern may be a plain
// permission or hold wildcards, and need not be in the Catalogue. Held
// "identity.*" covers "identity.users.read" and "identity.users.*"; held
// "a.*.c" covers "a.b.c" and "a.*.c"; held "a.b" does not cover "a.*", nor
// held "tenant.*.crm.read" "tenant.*.*".
//
// One held grant must cover the whole pattern: segment names are unbounded,
// so a permission with a segment no grant names can always be built, and a
// grant that matches it matches every permission of the pattern (the
// property test checks this against brute-force expansion).
func Covers(held PermissionSet, pattern string) bool {
	ps := strings.Split(pattern, ".")
	for _, h := range held {
		if patternCovers(strings.Split(h, "."), ps) {
			return true
		}
	}
	return false
}

// patternCovers reports whether every permission p matches is matched by h,
// both split into segments.
func patternCovers(h, p []string) bool {
	hTrail, pTrail := h[len(h)-1] == "*", p[len(p)-1] == "*"
	fixed := h
	if hTrail {
		// h matches len(h) or more segments, its last "*" standing for the
		// rest: p's permissions must be at least that long, and agree with
		// h's fixed segments before it.
		if len(p) < len(h) {
			return false
		}
		fixed = h[:len(h)-1]
	} else if pTrail || len(p) != len(h) {
		// h matches exactly len(h) segments; p must too.
		return false
	}
	for i, s := range fixed {
		// A "*" of h covers whatever p has there; a literal of h only the
		// same literal (never p's "*", which matches other names too).
		if s != "*" && s != p[i] {
			return false
		}
	}
	return true
}

// Overlaps reports whether some permission is matched by both patterns
// (Grants semantics).
func Overlaps(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	aTrail, bTrail := as[len(as)-1] == "*", bs[len(bs)-1] == "*"
	n := min(len(as), len(bs))
	switch {
	case !aTrail && !bTrail:
		if len(as) != len(bs) {
			return false
		}
	case aTrail && !bTrail:
		if len(bs) < len(as) {
			return false
		}
		n = len(as) - 1
	case !aTrail && bTrail:
		if len(as) < len(bs) {
			return false
		}
		n = len(bs) - 1
	default:
		n--
	}
	for i := 0; i < n; i++ {
		if as[i] != "*" && bs[i] != "*" && as[i] != bs[i] {
			return false
		}
	}
	return true
}

// ReachesDanger reports whether pattern can match a danger action: granting
// it grants (part of) a danger action, which needs a stepped-up grantor.
func ReachesDanger(pattern string) bool {
	for _, d := range DangerActions {
		if Overlaps(pattern, d) {
			return true
		}
	}
	return false
}
