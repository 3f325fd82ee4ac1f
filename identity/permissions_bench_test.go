package identity

import "testing"

// BenchmarkPermissionResolution is one check against an Owner's grants plus
// wildcard policies: what every permission-gated request pays once.
func BenchmarkPermissionResolution(b *testing.B) {
	perms := PermissionSet(append(SystemRoles()[RoleOwner], "tenant.*.crm.*", "warehouse.*"))
	b.ReportAllocs()
	for b.Loop() {
		if !perms.Has("identity.users.read") || perms.Has("admin.tenants.delete") {
			b.Fatal("wrong answer")
		}
	}
}

// BenchmarkDangerActionMatch is the step-up gate's pattern match.
func BenchmarkDangerActionMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !IsDangerAction("tenant.acme.crm.tasks.delete") {
			b.Fatal("wrong answer")
		}
	}
}
