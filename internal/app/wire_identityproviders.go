package app

import (
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/storage"
)

// buildIdentityProviders wires issue 12 §1's admin and account side: the
// tenants' upstream identity providers (secrets sealed under the keyring)
// and the signed-in person's linked identities, whose unlink uses the
// account services' credential checks (deps, creds: buildAccounts').
func (a *App) buildIdentityProviders(cfg *Config, deps identity.AccountDeps, creds identity.CredentialStores) error {
	var err error
	if a.IdentityProviders, err = identity.NewIdentityProviders(identity.IdentityProvidersDeps{Store: a.Store, Roles: a.Store,
		Tx: a.Store, Auditor: a.Auditor, Sealer: a.Ring, Log: a.Log}); err != nil {
		return err
	}
	a.LinkedIdentities, err = identity.NewLinkedIdentities(identity.LinkedIdentitiesDeps{AccountDeps: deps, CredentialStores: creds,
		Store: a.Store, Providers: a.Store, Tx: a.Store, StepUpTTL: cfg.StepUpTTL})
	return err
}

// The Store implements the identity provider stores.
var (
	_ identity.IdentityProviderStore = (*storage.Store)(nil)
	_ identity.LinkedIdentityStore   = (*storage.Store)(nil)
	_ identity.RoleLookup            = (*storage.Store)(nil)
)
