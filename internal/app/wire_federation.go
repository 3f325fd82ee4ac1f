package app

import (
	"net/http"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/storage"
)

// buildFederation wires issue 12 §1's sign-in through a tenant's upstream
// identity provider: the flow service over the store, with an HTTP client
// whose every upstream call ends within IDENTITY_FEDERATION_TIMEOUT.
func (a *App) buildFederation(cfg *Config) error {
	var err error
	a.Federation, err = identity.NewFederation(identity.FederationDeps{Providers: a.Store, States: a.Store, Identities: a.Store, Roles: a.Store, Tx: a.Store, Auditor: a.Auditor, Sealer: a.Ring,
		Login: a.Login, Issuer: cfg.Issuer, HTTPClient: &http.Client{Timeout: cfg.FederationTimeout}, Timeout: cfg.FederationTimeout, Log: a.Log})
	return err
}

// The Store implements the flow's stores.
var (
	_ identity.FederationProviderStore = (*storage.Store)(nil)
	_ identity.FederationStateStore    = (*storage.Store)(nil)
	_ identity.FederationIdentityStore = (*storage.Store)(nil)
	_ identity.FederationRoleStore     = (*storage.Store)(nil)
)
