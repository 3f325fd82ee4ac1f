package identity

import (
	"context"
	"time"

	"github.com/identityd/identityd/models"
)

// LinkedIdentities is the account side of upstream providers (issue 12
// §1): the signed-in person's linked identities, and unlinking one. An
// unlink is refused when it would leave no way in (KeepsAWayIn, inside
// the removal's transaction after LockUserSignIn) and needs a fresh proof
// (Unlink).
type LinkedIdentities struct {
	*credentials
	store     LinkedIdentityStore
	providers IdentityProviderStore
	tx        Tx
	stepUpTTL time.Duration
}

// LinkedIdentityStore is what LinkedIdentities needs from storage.
type LinkedIdentityStore interface {
	SignInMethodCounter
	ListUserIdentities(ctx context.Context, tenantID, userID string) ([]models.UserIdentity, error)
	DeleteUserIdentity(ctx context.Context, tenantID, userID, id string) error
	// LockUserSignIn returns the user with its row locked until the
	// transaction ends.
	LockUserSignIn(ctx context.Context, tenantID, id string) (*models.User, error)
}

// LinkedIdentitiesDeps are what NewLinkedIdentities needs, all required:
// the credential checks (the password, the step-up flag) as the account
// services have them, and StepUpTTL, how recent a sign-in must be to stand
// in for a step-up of an account without a password.
type LinkedIdentitiesDeps struct {
	AccountDeps
	CredentialStores
	Store     LinkedIdentityStore
	Providers IdentityProviderStore
	Tx        Tx
	StepUpTTL time.Duration
}

// NewLinkedIdentities checks d and returns the service.
func NewLinkedIdentities(d LinkedIdentitiesDeps) (*LinkedIdentities, error) {
	c, err := newCredentials("NewLinkedIdentities", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("LinkedIdentities", dep{"Store", d.Store == nil}, dep{"Providers", d.Providers == nil}, dep{"Tx", d.Tx == nil},
		dep{"StepUps", d.StepUps == nil}, dep{"StepUpTTL", d.StepUpTTL <= 0}); err != nil {
		return nil, err
	}
	return &LinkedIdentities{credentials: c, store: d.Store, providers: d.Providers, tx: d.Tx, stepUpTTL: d.StepUpTTL}, nil
}

// LinkedIdentity is one identity linked to the signed-in person's account,
// with its provider's display name.
type LinkedIdentity struct {
	models.UserIdentity
	ProviderName string
}

// List returns the principal's linked identities, oldest first.
func (s *LinkedIdentities) List(ctx context.Context, p Principal) ([]LinkedIdentity, error) {
	ids, err := s.store.ListUserIdentities(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	providers, err := s.providers.ListIdentityProviders(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(providers))
	for _, pr := range providers {
		names[pr.ID] = pr.Name
	}
	out := make([]LinkedIdentity, 0, len(ids))
	for _, i := range ids {
		out = append(out, LinkedIdentity{UserIdentity: i, ProviderName: names[i.ProviderID]})
	}
	return out, nil
}

// LinkedSummary is what the account page shows of the linked identities:
// the list, whether the account has a password (the unlink form asks for
// it), and whether unlinking one would leave no way in (the page says so
// instead of offering a button that can only be refused).
type LinkedSummary struct {
	Identities  []LinkedIdentity
	HasPassword bool
	LastWayIn   bool
}

// Summary returns the principal's LinkedSummary.
func (s *LinkedIdentities) Summary(ctx context.Context, p Principal) (*LinkedSummary, error) {
	u, err := s.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	list, err := s.List(ctx, p)
	if err != nil {
		return nil, err
	}
	out := &LinkedSummary{Identities: list, HasPassword: u.PasswordHash != ""}
	if len(list) > 0 {
		err := KeepsAWayIn(ctx, s.store, u, RemovingIdentity)
		if err != nil && !models.IsKind(err, models.KindConflict) {
			return nil, err
		}
		out.LastWayIn = err != nil
	}
	return out, nil
}

// Unlink removes one of the principal's linked identities. It needs a
// fresh proof, the rule of every sign-in factor change: for an account
// with a password, the current password now or a step-up done with it in
// this session (as removing two-step verification); for an account
// without one, a step-up in this session or a sign-in no older than the
// step-up lifetime. An impersonation token never unlinks. The last way in
// is never removed (409 last_sign_in_method).
func (s *LinkedIdentities) Unlink(ctx context.Context, p Principal, id, password string, meta Meta) error {
	if p.ActorID != "" {
		return ErrImpersonationForbidden()
	}
	u, err := s.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if u.PasswordHash != "" {
		if _, err := s.proveForFactorChange(ctx, p, password, meta); err != nil {
			return err
		}
	} else if err := s.recentProof(ctx, p); err != nil {
		return err
	}
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := s.store.LockUserSignIn(ctx, p.TenantID, p.UserID)
		if err != nil {
			return err
		}
		var found *models.UserIdentity
		ids, err := s.store.ListUserIdentities(ctx, p.TenantID, p.UserID)
		if err != nil {
			return err
		}
		for i := range ids {
			if ids[i].ID == id {
				found = &ids[i]
			}
		}
		if found == nil {
			return models.ErrNotFound("user_identity")
		}
		if err := KeepsAWayIn(ctx, s.store, u, RemovingIdentity); err != nil {
			return err
		}
		if err := s.store.DeleteUserIdentity(ctx, p.TenantID, p.UserID, id); err != nil {
			return err
		}
		return s.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditIdentityUnlinked, Meta: meta,
			Metadata: map[string]any{"identity_id": found.ID, "provider_id": found.ProviderID},
			Data:     map[string]any{"identity_id": found.ID, "provider_id": found.ProviderID}})
	})
}

// recentProof is the fresh proof of an account without a password: a
// step-up in this session (any method), or a sign-in within the step-up
// lifetime.
func (s *LinkedIdentities) recentProof(ctx context.Context, p Principal) error {
	if !p.AuthTime.IsZero() && s.now().Sub(p.AuthTime) <= s.stepUpTTL {
		return nil
	}
	if p.SessionID != "" {
		ok, _, err := stepUpStatus(ctx, s.stepUps, s.now(), p)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return models.ErrStepUpRequired("").WithMessage("Unlinking a sign-in method needs a recent sign-in: sign in again, then unlink.")
}
