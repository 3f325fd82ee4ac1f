package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// AuditUserDataExported is a person downloading everything held about
// them (GET /api/auth/me/export); its metadata counts what was given.
const AuditUserDataExported = "user.data_exported"

// PrivacyStore is what Privacy needs from storage to export a person's
// data.
type PrivacyStore interface {
	// GetUser returns the tenant's user, or NotFound "user".
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// PrincipalRoles returns the roles of each principal.
	PrincipalRoles(ctx context.Context, tenantID string, principalIDs []string) (map[string][]models.Role, error)
	// PrincipalPolicies returns the policies of one principal.
	PrincipalPolicies(ctx context.Context, tenantID, principalID string) ([]models.Policy, error)
	// ListSessions returns the user's live sessions.
	ListSessions(ctx context.Context, tenantID, userID string) ([]models.Session, error)
	// ListDevices returns the user's devices.
	ListDevices(ctx context.Context, tenantID, userID string) ([]models.Device, error)
	// ListPushDevices returns the user's push registrations.
	ListPushDevices(ctx context.Context, tenantID, userID string) ([]models.PushDevice, error)
	// ListConsents returns the user's consents with their clients' names.
	ListConsents(ctx context.Context, tenantID, userID string) ([]models.ConsentListing, error)
	// ListUserIdentities returns the upstream identities linked to the user.
	ListUserIdentities(ctx context.Context, tenantID, userID string) ([]models.UserIdentity, error)
	// ListWebAuthnCredentials returns the user's passkeys.
	ListWebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]models.WebAuthnCredential, error)
	// StreamAuditLogs calls fn for every matching row, newest first.
	StreamAuditLogs(ctx context.Context, f models.AuditFilter, fn func(*models.AuditLog) error) error
}

// ErasureStore is what Privacy needs from storage to erase a person.
type ErasureStore interface {
	// GetUser returns the tenant's user, or NotFound "user".
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// ResolvePermissions returns every permission the principal holds.
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
	// UsersWithRole returns the ids of the tenant's users holding the
	// named role, locking the tenant row so concurrent checks serialise.
	UsersWithRole(ctx context.Context, tenantID, roleName string) ([]string, error)
	// EraseUser deletes the user and every row stored for them (tokens,
	// credentials, codes, devices, sessions, consents, assignments).
	EraseUser(ctx context.Context, tenantID, id string) error
	// PseudonymizeAuditLogs rewrites the person's audit trail.
	PseudonymizeAuditLogs(ctx context.Context, e models.AuditErasure) (int, error)
	PushRemover
	// DeletePersonMail deletes the tenant's queued, unsent mail naming the
	// user or addressed to one of recipientHashes, and counts it.
	DeletePersonMail(ctx context.Context, tenantID, userID string, recipientHashes []string) (int, error)
	// DeleteSubjectEvents deletes the tenant's outbox rows whose subject
	// is subject, in the transaction ctx carries, and counts them.
	DeleteSubjectEvents(ctx context.Context, tenantID, subject string) (int64, error)
}

// Privacy gives a person what the GDPR promises them over their own data:
// a copy of it (Art. 15 and 20) and its erasure (Art. 17).
type Privacy struct {
	*credentials
	store  PrivacyStore
	eraser ErasureStore
	tx     Tx
}

// PrivacyDeps are what NewPrivacy needs; every field is required. The
// credential checks confirm the password of a person erasing themself.
type PrivacyDeps struct {
	AccountDeps
	CredentialStores
	Store  PrivacyStore
	Eraser ErasureStore
	Tx     Tx
}

// NewPrivacy checks d and returns the service.
func NewPrivacy(d PrivacyDeps) (*Privacy, error) {
	c, err := newCredentials("NewPrivacy", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("Privacy", dep{"Store", d.Store == nil}, dep{"Eraser", d.Eraser == nil}, dep{"Tx", d.Tx == nil}); err != nil {
		return nil, err
	}
	return &Privacy{credentials: c, store: d.Store, eraser: d.Eraser, tx: d.Tx}, nil
}

// PersonalData is the archive of everything held about a person. It is
// the document GET /api/auth/me/export downloads (docs/privacy.md): no
// password, PIN or recovery-code hash, no TOTP secret, no token or token
// hash is in it; push tokens are masked.
type PersonalData struct {
	Format      string             `json:"format"`
	ExportedAt  time.Time          `json:"exported_at"`
	Profile     ExportProfile      `json:"profile"`
	Roles       []ExportRole       `json:"roles"`
	Policies    []ExportRole       `json:"policies"`
	Sessions    []ExportSession    `json:"sessions"`
	Devices     []ExportDevice     `json:"devices"`
	PushDevices []ExportPushDevice `json:"push_devices"`
	Consents    []ExportConsent    `json:"consents"`
	// Identities are the upstream sign-ins linked to the account, and
	// Passkeys its passkeys (issue 12), never a key or a credential id.
	Identities []ExportIdentity   `json:"linked_identities"`
	Passkeys   []ExportPasskey    `json:"passkeys"`
	Activity   []ExportAuditEntry `json:"activity"`
}

// ExportIdentity is an upstream identity linked to the account.
type ExportIdentity struct {
	ID          string     `json:"id"`
	ProviderID  string     `json:"provider_id"`
	Subject     string     `json:"subject"`
	Email       string     `json:"email"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
}

// ExportPasskey is one of the person's passkeys.
type ExportPasskey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Disabled   bool       `json:"disabled"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// PersonalDataFormat names the archive's layout; it changes when a field
// changes meaning.
const PersonalDataFormat = "identityd.personal-data.v1"

// ExportProfile is the person's account and profile.
type ExportProfile struct {
	ID                         string     `json:"id"`
	TenantID                   string     `json:"tenant_id"`
	Email                      string     `json:"email"`
	EmailVerified              bool       `json:"email_verified"`
	Name                       string     `json:"name"`
	GivenName                  string     `json:"given_name"`
	FamilyName                 string     `json:"family_name"`
	Locale                     string     `json:"locale"`
	Zoneinfo                   string     `json:"zoneinfo"`
	Picture                    string     `json:"picture"`
	PhoneNumber                string     `json:"phone_number"`
	PhoneNumberVerified        bool       `json:"phone_number_verified"`
	MarketingEmails            bool       `json:"marketing_emails"`
	ProfileVisibleToColleagues bool       `json:"profile_visible_to_colleagues"`
	Active                     bool       `json:"active"`
	TOTPEnabled                bool       `json:"totp_enabled"`
	Email2FAEnabled            bool       `json:"email_2fa_enabled"`
	PINSet                     bool       `json:"pin_set"`
	PasswordChangedAt          *time.Time `json:"password_changed_at"`
	ProfileUpdatedAt           *time.Time `json:"profile_updated_at"`
	CreatedAt                  time.Time  `json:"created_at"`
	UpdatedAt                  time.Time  `json:"updated_at"`
}

// ExportRole is a role or policy the person holds.
type ExportRole struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}

// ExportSession is one of the person's live sessions.
type ExportSession struct {
	ID           string    `json:"id"`
	DeviceID     *string   `json:"device_id"`
	Kind         string    `json:"kind"`
	DeviceName   string    `json:"device_name"`
	Browser      string    `json:"browser"`
	OS           string    `json:"os"`
	IPAddress    string    `json:"ip_address"`
	UserAgent    string    `json:"user_agent"`
	AuthMethods  []string  `json:"auth_methods"`
	CreatedAt    time.Time `json:"created_at"`
	LastActiveAt time.Time `json:"last_active_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// ExportDevice is a device the person signed in from.
type ExportDevice struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Browser      string     `json:"browser"`
	OS           string     `json:"os"`
	TrustedUntil *time.Time `json:"trusted_until"`
	RevokedAt    *time.Time `json:"revoked_at"`
	CreatedAt    time.Time  `json:"created_at"`
	LastSeenAt   time.Time  `json:"last_seen_at"`
}

// ExportPushDevice is a push registration, its token masked.
type ExportPushDevice struct {
	ID         string    `json:"id"`
	DeviceID   *string   `json:"device_id"`
	Platform   string    `json:"platform"`
	Token      string    `json:"token"`
	AppID      string    `json:"app_id"`
	DeviceName string    `json:"device_name"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ExportConsent is an application the person allowed.
type ExportConsent struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	GrantedAt  time.Time `json:"granted_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ExportAuditEntry is an audit row the person is the actor or subject of.
type ExportAuditEntry struct {
	ID        string         `json:"id"`
	Action    string         `json:"action"`
	UserID    *string        `json:"user_id"`
	ActorID   string         `json:"actor_id,omitempty"`
	IPAddress string         `json:"ip_address"`
	UserAgent string         `json:"user_agent"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"created_at"`
}

func exportRoles(roles []models.Role) []ExportRole {
	out := make([]ExportRole, 0, len(roles))
	for _, r := range roles {
		out = append(out, ExportRole{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: nonNil(r.Permissions)})
	}
	return out
}

func nonNil(l models.StringList) []string {
	if l == nil {
		return []string{}
	}
	return []string(l)
}

// Export returns everything held about the signed-in person and records
// user.data_exported in the same transaction, so an export that is not
// recorded is not given.
func (s *Privacy) Export(ctx context.Context, p Principal, meta Meta) (*PersonalData, error) {
	var d *PersonalData
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if d, err = s.collect(ctx, p.TenantID, p.UserID); err != nil {
			return err
		}
		return s.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditUserDataExported, Meta: meta,
			Metadata: map[string]any{"sessions": len(d.Sessions), "devices": len(d.Devices), "push_devices": len(d.PushDevices),
				"consents": len(d.Consents), "audit_entries": len(d.Activity)}})
	})
	return d, err
}

func (s *Privacy) collect(ctx context.Context, tenantID, userID string) (*PersonalData, error) {
	u, err := s.store.GetUser(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d := &PersonalData{Format: PersonalDataFormat, ExportedAt: s.now(), Profile: ExportProfile{
		ID: u.ID, TenantID: u.TenantID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		GivenName: u.GivenName, FamilyName: u.FamilyName, Locale: u.Locale, Zoneinfo: u.Zoneinfo, Picture: u.Picture,
		PhoneNumber: u.PhoneNumber, PhoneNumberVerified: u.PhoneNumberVerified, MarketingEmails: u.MarketingEmails,
		ProfileVisibleToColleagues: u.ProfileVisibleToColleagues, Active: u.IsActive, TOTPEnabled: u.TOTPEnabled,
		Email2FAEnabled: u.Email2FAEnabled, PINSet: u.PINHash != "", PasswordChangedAt: u.PasswordChangedAt,
		ProfileUpdatedAt: u.ProfileUpdatedAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}}
	roles, err := s.store.PrincipalRoles(ctx, tenantID, []string{userID})
	if err != nil {
		return nil, err
	}
	d.Roles = exportRoles(roles[userID])
	policies, err := s.store.PrincipalPolicies(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d.Policies = make([]ExportRole, 0, len(policies))
	for _, pl := range policies {
		d.Policies = append(d.Policies, ExportRole{ID: pl.ID, Name: pl.Name, Description: pl.Description, Permissions: nonNil(pl.Permissions)})
	}
	sessions, err := s.store.ListSessions(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d.Sessions = make([]ExportSession, 0, len(sessions))
	for _, x := range sessions {
		d.Sessions = append(d.Sessions, ExportSession{ID: x.ID, DeviceID: x.DeviceID, Kind: x.Kind, DeviceName: x.DeviceName,
			Browser: x.Browser, OS: x.OS, IPAddress: x.IPAddress, UserAgent: x.UserAgent, AuthMethods: nonNil(x.AuthMethods),
			CreatedAt: x.CreatedAt, LastActiveAt: x.LastActiveAt, ExpiresAt: x.ExpiresAt})
	}
	devices, err := s.store.ListDevices(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d.Devices = make([]ExportDevice, 0, len(devices))
	for _, x := range devices {
		d.Devices = append(d.Devices, ExportDevice{ID: x.ID, Name: x.Name, Browser: x.Browser, OS: x.OS,
			TrustedUntil: x.TrustedUntil, RevokedAt: x.RevokedAt, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt})
	}
	push, err := s.store.ListPushDevices(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d.PushDevices = make([]ExportPushDevice, 0, len(push))
	for _, x := range push {
		token, err := s.sealer.Open(x.TokenSealed, pushTokenAD(x.TenantID, x.TokenHash))
		if err != nil {
			return nil, models.ErrInternal(err)
		}
		d.PushDevices = append(d.PushDevices, ExportPushDevice{ID: x.ID, DeviceID: x.DeviceID, Platform: x.Platform,
			Token: maskPushToken(string(token)), AppID: x.AppID, DeviceName: x.DeviceName, CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt})
	}
	consents, err := s.store.ListConsents(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d.Consents = make([]ExportConsent, 0, len(consents))
	for _, c := range consents {
		d.Consents = append(d.Consents, ExportConsent{ClientID: c.ClientID, ClientName: c.ClientName, Scopes: nonNil(c.Scopes),
			GrantedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt})
	}
	identities, err := s.store.ListUserIdentities(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d.Identities = make([]ExportIdentity, 0, len(identities))
	for _, x := range identities {
		d.Identities = append(d.Identities, ExportIdentity{ID: x.ID, ProviderID: x.ProviderID, Subject: x.Subject, Email: x.Email,
			CreatedAt: x.CreatedAt, LastLoginAt: x.LastLoginAt})
	}
	keys, err := s.store.ListWebAuthnCredentials(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	d.Passkeys = make([]ExportPasskey, 0, len(keys))
	for _, x := range keys {
		d.Passkeys = append(d.Passkeys, ExportPasskey{ID: x.ID, Name: x.Name, Disabled: x.Disabled, CreatedAt: x.CreatedAt, LastUsedAt: x.LastUsedAt})
	}
	d.Activity = []ExportAuditEntry{}
	err = s.store.StreamAuditLogs(ctx, models.AuditFilter{TenantID: tenantID, Actor: userID}, func(r *models.AuditLog) error {
		md := map[string]any{}
		if r.Metadata != "" {
			_ = json.Unmarshal([]byte(r.Metadata), &md)
		}
		d.Activity = append(d.Activity, ExportAuditEntry{ID: r.ID, Action: r.Action, UserID: r.UserID, ActorID: r.ActorID,
			IPAddress: r.IPAddress, UserAgent: r.UserAgent, Metadata: md, CreatedAt: r.CreatedAt})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// AuditUserErased is a person erased (by themself or an administrator):
// its subject and metadata carry only the pseudonym.
const AuditUserErased = "user.erased"

// auditPersonalKeys are the metadata keys whose value is personal on a
// row about the person (models.AuditErasure.PersonalKeys).
var auditPersonalKeys = []string{"email", "old_email", "new_email", "name", "old_name", "new_name",
	"given_name", "family_name", "phone_number", "old_phone_number", "new_phone_number", "picture", "to", "recipient"}

// ErasedPseudonym is the stable pseudonym of an erased user: a version-8
// UUID from a keyed hash of the tenant and user ids, so the rows of one
// person stay linkable, nobody without the key can tell whose they are,
// and the value still fits the audit log's uuid column.
func ErasedPseudonym(s Sealer, tenantID, userID string) string {
	mac := s.MAC(keyring.PurposeLookup, []byte("erased-user"), []byte(tenantID), []byte(userID))
	sum := sha256.Sum256([]byte(mac))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// EraseMe erases the signed-in person for good (DELETE /api/auth/me): it
// needs a step-up and the password again; an impersonation token never
// can. The last Owner of the tenant cannot erase themself (409
// last_owner): another Owner must be named first.
func (s *Privacy) EraseMe(ctx context.Context, a Actor, password string) error {
	if a.ActorID != "" {
		return ErrImpersonationForbidden()
	}
	ok, err := a.elevated(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return models.ErrStepUpRequired("").WithMessage("Erasing your account needs a recent re-authentication: step up first.")
	}
	if password == "" {
		return models.ErrPasswordRequired().WithMessage("Enter your password to erase your account.")
	}
	u, err := s.verifyPassword(ctx, a.Principal, password, a.Meta)
	if err != nil {
		return err
	}
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		pseudonym, err := s.erase(ctx, a.Principal, Meta{}, u)
		if err != nil {
			return err
		}
		// The row names the pseudonym only, and not the request's address:
		// it is the erased person's.
		p := Principal{Kind: a.Kind, TenantID: a.TenantID, UserID: pseudonym}
		return s.audit.Record(ctx, p, Event{TenantID: a.TenantID, UserID: pseudonym, Action: AuditUserErased,
			Metadata: map[string]any{"pseudonym": pseudonym, "by": "self"}, Subject: u.ID, Data: erasedData(u, "self")})
	})
}

// EraseUser erases a user of the actor's tenant for good (POST
// /api/users/{id}/erase, identity.users.erase, a danger action). The
// actor must cover the user's permissions (CanActOn), a system admin can
// be erased only by a system admin, the actor's own account goes through
// EraseMe, and the tenant's last Owner is refused (409 last_owner).
func (s *Privacy) EraseUser(ctx context.Context, a Actor, id string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := s.eraser.GetUser(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if u.ID == a.UserID {
			return errSelf("erase")
		}
		if u.IsSystemAdmin && !a.SystemAdmin {
			return models.ErrForbidden("").WithMessage("Only a system admin can erase a system admin.")
		}
		if !a.SystemAdmin {
			perms, err := s.eraser.ResolvePermissions(ctx, a.TenantID, u.ID)
			if err != nil {
				return err
			}
			if err := CanActOn(ctx, a, perms); err != nil {
				return err
			}
		}
		pseudonym, err := s.erase(ctx, a.Principal, a.Meta, u)
		if err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: pseudonym, Action: AuditUserErased,
			Metadata: map[string]any{"pseudonym": pseudonym, "by": "admin"}, Subject: u.ID, Data: erasedData(u, "admin")})
	})
}

// erasedData is the body of identity.user.erased: ids only, so consumers
// can find and erase their own copy of the person.
func erasedData(u *models.User, by string) map[string]any {
	return map[string]any{"user_id": u.ID, "tenant_id": u.TenantID, "by": by}
}

// erase refuses the tenant's last Owner, deletes everything stored for u
// (their push registrations audited one by one) and the mail queued for
// them, and pseudonymises their audit trail, in the caller's transaction.
func (s *Privacy) erase(ctx context.Context, p Principal, meta Meta, u *models.User) (string, error) {
	owners, err := s.eraser.UsersWithRole(ctx, u.TenantID, RoleOwner)
	if err != nil {
		return "", err
	}
	if slices.Contains(owners, u.ID) && len(owners) == 1 {
		return "", models.ErrLastOwner()
	}
	// The push registrations go first, each with its push_device.removed
	// row, which the pseudonymisation below then rewrites like the rest.
	if _, err := removePushDevices(ctx, s.eraser, s.audit, p, meta,
		models.PushDeviceFilter{TenantID: u.TenantID, UserID: u.ID}, PushRemovedUserErased); err != nil {
		return "", err
	}
	if err := s.eraser.EraseUser(ctx, u.TenantID, u.ID); err != nil {
		return "", err
	}
	// Mail queued for the person and not yet sent is withdrawn; the mail
	// worker also looks again before sending one it had already claimed.
	if _, err := s.eraser.DeletePersonMail(ctx, u.TenantID, u.ID, []string{mailRecipientHash(s.sealer, u.Email)}); err != nil {
		return "", err
	}
	// The outbox rows about the person (their bodies carry the address and
	// name) go too; the identity.user.erased the caller writes next, ids
	// only, is what consumers hear.
	if _, err := s.eraser.DeleteSubjectEvents(ctx, u.TenantID, u.ID); err != nil {
		return "", err
	}
	pseudonym := ErasedPseudonym(s.sealer, u.TenantID, u.ID)
	ids := []string{u.Email, u.Name, u.GivenName, u.FamilyName, u.PhoneNumber}
	if _, err := s.eraser.PseudonymizeAuditLogs(ctx, models.AuditErasure{UserID: u.ID, Pseudonym: pseudonym,
		Identifiers: ids, PersonalKeys: auditPersonalKeys}); err != nil {
		return "", err
	}
	return pseudonym, nil
}
