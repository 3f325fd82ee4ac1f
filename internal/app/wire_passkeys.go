package app

import (
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/storage"
)

// buildPasskeys wires issue 12 §2: the passkey service over the store,
// completing its sign-ins through a.Login and its step-ups through
// a.StepUp. The RP ID and origin are the issuer's.
func (a *App) buildPasskeys(cfg *Config) error {
	var err error
	a.Passkeys, err = identity.NewPasskeys(identity.PasskeysDeps{Login: a.Login, StepUp: a.StepUp, Store: a.Store, Ceremonies: a.Store,
		Locker: a.Store, Counter: a.Store, Tx: a.Store, Issuer: cfg.Issuer, DisplayName: cfg.WebAuthnRPName, Attestation: cfg.WebAuthnAttestation})
	return err
}

// The Store implements the passkey stores.
var (
	_ identity.PasskeyStore        = (*storage.Store)(nil)
	_ identity.CeremonyStore       = (*storage.Store)(nil)
	_ identity.SignInLocker        = (*storage.Store)(nil)
	_ identity.SignInMethodCounter = (*storage.Store)(nil)
)
