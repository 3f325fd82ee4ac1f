package identity

import (
	"context"
	"strings"

	"github.com/identityd/identityd/models"
)

// AuditConsentRevoked is a user withdrawing what they allowed an
// application; its metadata names the client and the scopes.
const AuditConsentRevoked = "consent.revoked"

// ConsentStore is what Consents needs from storage.
type ConsentStore interface {
	// ListConsents returns the user's consents with their clients' names,
	// most recently updated first.
	ListConsents(ctx context.Context, tenantID, userID string) ([]models.ConsentListing, error)
	// RevokeConsent removes the consent and every code and token the client
	// holds for the user, or NotFound "consent".
	RevokeConsent(ctx context.Context, tenantID, userID, clientID string) (*models.Consent, error)
}

// Consents are the applications (OAuth clients) a person allowed to act
// for them: they list them and withdraw one, which ends that
// application's access at once.
type Consents struct {
	store ConsentStore
	tx    Tx
	audit Auditor
}

// ConsentsDeps are what NewConsents needs; every field is required.
type ConsentsDeps struct {
	Store   ConsentStore
	Tx      Tx
	Auditor Auditor
}

// NewConsents checks d and returns the service.
func NewConsents(d ConsentsDeps) (*Consents, error) {
	if err := checkDeps("Consents", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}); err != nil {
		return nil, err
	}
	return &Consents{store: d.Store, tx: d.Tx, audit: d.Auditor}, nil
}

// List returns the applications the signed-in person allowed.
func (s *Consents) List(ctx context.Context, p Principal) ([]models.ConsentListing, error) {
	return s.store.ListConsents(ctx, p.TenantID, p.UserID)
}

// Revoke withdraws the signed-in person's consent to the client and ends
// the client's access for them: its codes, access and refresh tokens are
// deleted in the same transaction (consent.revoked). A client the person
// never allowed, or another tenant's, is NotFound "consent".
func (s *Consents) Revoke(ctx context.Context, p Principal, clientID string, meta Meta) error {
	clientID = strings.TrimSpace(clientID)
	if clientID == "" || len(clientID) > 255 {
		return models.ErrNotFound("consent")
	}
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		c, err := s.store.RevokeConsent(ctx, p.TenantID, p.UserID, clientID)
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditConsentRevoked, Meta: meta,
			Metadata: map[string]any{"client_id": c.ClientID, "scopes": []string(c.Scopes)}})
	})
}
