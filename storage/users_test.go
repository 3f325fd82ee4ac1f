package storage_test

import (
	"context"
	"testing"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestGetUserAndTenantState: bearer authentication reads the user and its
// tenant's suspension in one statement; the factor-session columns of
// migration 00007 round-trip, NULL as "".
func TestGetUserAndTenantState(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := storagetest.OpenStore(t, b, storage.Options{})
			tenant := &models.Tenant{Slug: "live", Name: "Live"}
			if err := st.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			u := &models.User{TenantID: tenant.ID, Email: "a@example.com", PasswordHash: "x", IsSystemAdmin: true}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			count := storage.CountStatements(st)
			before := count()
			got, suspended, err := st.GetUserAndTenantState(ctx, tenant.ID, u.ID)
			if err != nil || suspended || got.ID != u.ID || got.Email != u.Email || !got.IsActive || !got.IsSystemAdmin || got.PINSessionID != "" {
				t.Fatalf("live tenant: %+v %v %v", got, suspended, err)
			}
			if n := count() - before; n != 1 {
				t.Errorf("%d statements, want 1", n)
			}
			if _, err := st.UpdateUser(ctx, tenant.ID, u.ID, func(u *models.User) error {
				u.PINSessionID = "s-1"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SuspendTenant(ctx, tenant.ID); err != nil {
				t.Fatal(err)
			}
			got, suspended, err = st.GetUserAndTenantState(ctx, tenant.ID, u.ID)
			if err != nil || !suspended || got.PINSessionID != "s-1" {
				t.Fatalf("suspended tenant: %+v %v %v", got, suspended, err)
			}
			if _, _, err := st.GetUserAndTenantState(ctx, "00000000-0000-0000-0000-000000000000", u.ID); !models.IsKind(err, models.KindNotFound) {
				t.Fatalf("another tenant: %v, want NotFound", err)
			}
		})
	}
}
