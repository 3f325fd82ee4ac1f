package apptest

import (
	"testing"
	"time"

	"github.com/identityd/identityd/identity"
)

// The few service calls the end-to-end tests make beside HTTP, so that a
// renamed service changes this file and no test.

// PruneTokens deletes expired tokens, batch rows per statement, as
// `identityd tokens prune --batch` does.
func (s *Server) PruneTokens(t testing.TB, batch int) (identity.TokenPruneResult, error) {
	t.Helper()
	s.Operator.TokenPruneBatch = batch
	return s.Operator.PruneTokens(t.Context())
}

// RunPrunerOnce runs one round of the background prune with the given
// interval (its job lease lasts 90% of it) and reports whether this
// instance held the lease and ran.
func (s *Server) RunPrunerOnce(t testing.TB, interval time.Duration) (bool, error) {
	t.Helper()
	p := &identity.Pruner{Operator: s.Operator, Interval: interval}
	ran, _, _, err := p.RunOnce(t.Context())
	return ran, err
}

// RevokeDevice revokes one of the user's devices as the user would (from
// 127.0.0.1 with ChromeUA), without HTTP.
func (s *Server) RevokeDevice(t testing.TB, tenantID, userID, deviceID string) error {
	t.Helper()
	return s.Accounts.RevokeDevice(t.Context(), identity.Principal{TenantID: tenantID, UserID: userID},
		deviceID, identity.Meta{IP: "127.0.0.1", UserAgent: ChromeUA})
}
