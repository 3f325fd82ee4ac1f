package apptest

import (
	"testing"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// The few service calls the end-to-end tests make beside HTTP, so that a
// renamed service changes this file and no test.

// PruneTokens deletes expired tokens, batch rows per statement, as
// `identityd tokens prune --batch` does.
func (s *Server) PruneTokens(t testing.TB, batch int) (identity.TokenPruneResult, error) {
	t.Helper()
	return s.Pruner.PruneTokens(t.Context(), batch)
}

// RunPrunerOnce runs one round of the background prune with the given
// interval (its job lease lasts 90% of it), as a fresh instance named by a
// random lease holder, and reports whether it held the lease and ran.
func (s *Server) RunPrunerOnce(t testing.TB, interval time.Duration) (bool, error) {
	t.Helper()
	p, err := identity.NewPruner(identity.PrunerDeps{Store: s.Store, Interval: interval, Holder: "test-" + RandomID(t, 8),
		Tx: s.Store, Auditor: identity.Auditor{Store: s.Store}})
	if err != nil {
		return false, err
	}
	ran, _, _, err := p.RunOnce(t.Context())
	return ran, err
}

// PruneTenantsAt deletes the tenants whose own deletion fell due by now, as
// the background prune does, judged by the injected clock now.
func (s *Server) PruneTenantsAt(t testing.TB, now time.Time) (identity.TenantPruneResult, error) {
	t.Helper()
	p, err := identity.NewPruner(identity.PrunerDeps{Store: s.Store, Holder: "test-" + RandomID(t, 8),
		Tx: s.Store, Auditor: identity.Auditor{Store: s.Store}, Now: func() time.Time { return now }})
	if err != nil {
		return identity.TenantPruneResult{}, err
	}
	return p.PruneTenants(t.Context())
}

// RevokeDevice revokes one of the user's devices as the user would (from
// 127.0.0.1 with ChromeUA), without HTTP.
func (s *Server) RevokeDevice(t testing.TB, tenantID, userID, deviceID string) error {
	t.Helper()
	return s.Sessions.RevokeDevice(t.Context(), identity.Principal{Kind: models.PrincipalUser, TenantID: tenantID, UserID: userID},
		deviceID, identity.Meta{IP: "127.0.0.1", UserAgent: ChromeUA})
}
