package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/identityd/identityd/models"
)

// PasskeyStore keeps passkeys (WebAuthn credentials; storage implements
// it).
type PasskeyStore interface {
	// CreateWebAuthnCredential stores a passkey and gives it its id; a
	// credential id registered before (in any tenant) is Conflict.
	CreateWebAuthnCredential(ctx context.Context, c *models.WebAuthnCredential) error
	// ListWebAuthnCredentials returns the user's passkeys, disabled ones
	// too, oldest first.
	ListWebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]models.WebAuthnCredential, error)
	// GetWebAuthnCredential returns the user's passkey id, or NotFound.
	GetWebAuthnCredential(ctx context.Context, tenantID, userID, id string) (*models.WebAuthnCredential, error)
	// GetWebAuthnCredentialByCredentialID returns the tenant's passkey
	// with that authenticator credential id, or NotFound.
	GetWebAuthnCredentialByCredentialID(ctx context.Context, tenantID string, credentialID []byte) (*models.WebAuthnCredential, error)
	// UpdateWebAuthnCredentialUse records a use: compare-and-set of the
	// sign count from prevCount; false when disabled, gone or raced.
	UpdateWebAuthnCredentialUse(ctx context.Context, tenantID, id string, prevCount, newCount uint32, backupState bool, at time.Time) (bool, error)
	// RenameWebAuthnCredential names the user's passkey id.
	RenameWebAuthnCredential(ctx context.Context, tenantID, userID, id, name string) error
	// DisableWebAuthnCredential disables the passkey; false when it
	// already was.
	DisableWebAuthnCredential(ctx context.Context, tenantID, id string) (bool, error)
	// DeleteWebAuthnCredential removes the user's passkey id.
	DeleteWebAuthnCredential(ctx context.Context, tenantID, userID, id string) error
}

// CeremonyStore keeps the WebAuthn ceremonies pending between a begin and
// a finish step, found by the hash of their challenge.
type CeremonyStore interface {
	// CreateWebAuthnCeremony stores a begun ceremony.
	CreateWebAuthnCeremony(ctx context.Context, c *models.WebAuthnCeremony) error
	// ConsumeWebAuthnCeremony takes the live ceremony of a challenge hash
	// once; NotFound when spent, expired or unknown.
	ConsumeWebAuthnCeremony(ctx context.Context, challengeHash string) (*models.WebAuthnCeremony, error)
}

// SignInLocker serialises the removals of one user's sign-in methods.
type SignInLocker interface {
	// LockUserSignIn returns the tenant's user with its row locked until
	// the transaction in ctx ends.
	LockUserSignIn(ctx context.Context, tenantID, id string) (*models.User, error)
}

// Attestation conveyance preferences (IDENTITY_WEBAUTHN_ATTESTATION).
const (
	AttestationNone     = "none"
	AttestationIndirect = "indirect"
	AttestationDirect   = "direct"
)

// PasskeysDeps are what NewPasskeys needs.
type PasskeysDeps struct {
	// Login completes the sign-ins a passkey proves; StepUp holds the
	// elevations (both required).
	Login      *Login
	StepUp     *StepUp
	Store      PasskeyStore
	Ceremonies CeremonyStore
	Locker     SignInLocker
	Counter    SignInMethodCounter
	Tx         Tx
	// Issuer is this service's URL: its host is the RP ID, its origin the
	// only origin accepted.
	Issuer string
	// DisplayName is the relying party's name authenticators show.
	DisplayName string
	// Attestation is one of Attestation* ("": none).
	Attestation string
	// CeremonyTTL bounds a begin-to-finish ceremony (0: 5 minutes).
	CeremonyTTL time.Duration
}

// Passkeys are WebAuthn credentials (issue 12 §2): registered from the
// account, used as the second factor after a password, as a step-up
// method, and for passwordless sign-in (discoverable credentials). The RP
// ID is the issuer's host, the origin the issuer's; a counter that does
// not advance disables the passkey (a cloned authenticator).
type Passkeys struct {
	login      *Login
	stepUp     *StepUp
	store      PasskeyStore
	ceremonies CeremonyStore
	locker     SignInLocker
	counter    SignInMethodCounter
	tx         Tx
	wa         *webauthn.WebAuthn
	// unavailable: the issuer's host is an IP address, which WebAuthn
	// refuses as an RP ID; every call answers ErrPasskeysUnavailable.
	unavailable error
	ttl         time.Duration
	rpID        string
	origin      string
}

// NewPasskeys builds the passkey service. An issuer whose host is an IP
// address gives a service that refuses every call (passkeys need a
// domain name), not an error: the rest of the server works.
func NewPasskeys(d PasskeysDeps) (*Passkeys, error) {
	if err := checkDeps("Passkeys", dep{"Login", d.Login == nil}, dep{"StepUp", d.StepUp == nil}, dep{"Store", d.Store == nil},
		dep{"Ceremonies", d.Ceremonies == nil}, dep{"Locker", d.Locker == nil}, dep{"Counter", d.Counter == nil}, dep{"Tx", d.Tx == nil}, dep{"Issuer", d.Issuer == ""}); err != nil {
		return nil, err
	}
	u, err := url.Parse(d.Issuer)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("NewPasskeys: issuer %q is not a URL", d.Issuer)
	}
	p := &Passkeys{login: d.Login, stepUp: d.StepUp, store: d.Store, ceremonies: d.Ceremonies, locker: d.Locker, counter: d.Counter, tx: d.Tx, ttl: d.CeremonyTTL,
		rpID: strings.ToLower(u.Hostname()), origin: u.Scheme + "://" + u.Host}
	if p.ttl <= 0 {
		p.ttl = 5 * time.Minute
	}
	if net.ParseIP(p.rpID) != nil {
		p.unavailable = models.ErrPasskeysUnavailable()
		return p, nil
	}
	pref := protocol.PreferNoAttestation
	switch d.Attestation {
	case "", AttestationNone:
	case AttestationIndirect:
		pref = protocol.PreferIndirectAttestation
	case AttestationDirect:
		pref = protocol.PreferDirectAttestation
	default:
		return nil, fmt.Errorf("NewPasskeys: attestation %q is not none, indirect or direct", d.Attestation)
	}
	name := strings.TrimSpace(d.DisplayName)
	if name == "" {
		name = "Identity"
	}
	p.wa, err = webauthn.New(&webauthn.Config{
		RPID: p.rpID, RPDisplayName: name, RPOrigins: []string{p.origin},
		AttestationPreference: pref,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: p.ttl, TimeoutUVD: p.ttl},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: p.ttl, TimeoutUVD: p.ttl},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("NewPasskeys: %w", err)
	}
	return p, nil
}

// forPrincipal is asked first by every call of a signed-in user: an
// impersonation token never touches passkeys (not even to list them),
// then the server must have passkeys at all.
func (p *Passkeys) forPrincipal(pr Principal) error {
	if pr.ActorID != "" {
		return ErrImpersonationForbidden()
	}
	if pr.Kind == models.PrincipalServiceAccount {
		return models.ErrPrincipalNotAllowed()
	}
	return p.unavailable
}

// Available reports whether passkeys work on this server (the pages hide
// them otherwise).
func (p *Passkeys) Available() bool { return p.unavailable == nil }

// RPID is the relying party id: the issuer's host.
func (p *Passkeys) RPID() string { return p.rpID }

// passkeyUser is a user as go-webauthn sees them: the user handle is our
// user id (a UUID, no personal data), the credentials their usable ones.
type passkeyUser struct {
	u     *models.User
	creds []webauthn.Credential
}

func (w passkeyUser) WebAuthnID() []byte   { return []byte(w.u.ID) }
func (w passkeyUser) WebAuthnName() string { return w.u.Email }
func (w passkeyUser) WebAuthnDisplayName() string {
	if w.u.Name != "" {
		return w.u.Name
	}
	return w.u.Email
}
func (w passkeyUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func toWebAuthn(c models.WebAuthnCredential) webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, 0, len(c.Transports))
	for _, t := range c.Transports {
		tr = append(tr, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{ID: c.CredentialID, PublicKey: c.PublicKey, AttestationType: c.AttestationType, Transport: tr,
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: c.UserVerified, BackupEligible: c.BackupEligible, BackupState: c.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount}}
}

// usable returns the user's passkeys that can sign in (not disabled).
func (p *Passkeys) usable(ctx context.Context, u *models.User) ([]models.WebAuthnCredential, passkeyUser, error) {
	all, err := p.store.ListWebAuthnCredentials(ctx, u.TenantID, u.ID)
	if err != nil {
		return nil, passkeyUser{}, err
	}
	var out []models.WebAuthnCredential
	wu := passkeyUser{u: u}
	for _, c := range all {
		if !c.Disabled {
			out = append(out, c)
			wu.creds = append(wu.creds, toWebAuthn(c))
		}
	}
	return out, wu, nil
}

// PasskeyOptions is a begun ceremony: the options to hand to
// navigator.credentials.create or .get (JSON, as go-webauthn renders
// them: {"publicKey": {...}}).
type PasskeyOptions struct {
	Options json.RawMessage
}

func (p *Passkeys) saveCeremony(ctx context.Context, kind, tenantID string, userID *string, ref string, session *webauthn.SessionData, options any) (*PasskeyOptions, error) {
	raw, err := json.Marshal(session)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	c := &models.WebAuthnCeremony{ChallengeHash: challengeHash(session.Challenge), TenantID: tenantID, UserID: userID, Kind: kind, Ref: ref,
		Data: string(raw), ExpiresAt: p.login.now().Add(p.ttl)}
	if err := p.ceremonies.CreateWebAuthnCeremony(ctx, c); err != nil {
		return nil, err
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	return &PasskeyOptions{Options: opts}, nil
}

func challengeHash(challenge string) string {
	h := sha256.Sum256([]byte("webauthn-challenge:" + challenge))
	return hex.EncodeToString(h[:])
}

// takeCeremony consumes the ceremony whose challenge the client's answer
// carries (once: a replay finds nothing) and checks it is of kind.
func (p *Passkeys) takeCeremony(ctx context.Context, kind, challenge string) (*models.WebAuthnCeremony, webauthn.SessionData, error) {
	var session webauthn.SessionData
	if challenge == "" {
		return nil, session, models.ErrPasskeyInvalid()
	}
	c, err := p.ceremonies.ConsumeWebAuthnCeremony(ctx, challengeHash(challenge))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil, session, models.ErrPasskeyInvalid().WithCause(errors.New("no live ceremony for this challenge"))
		}
		return nil, session, err
	}
	if c.Kind != kind {
		return nil, session, models.ErrPasskeyInvalid().WithCause(fmt.Errorf("ceremony of kind %s, want %s", c.Kind, kind))
	}
	if err := json.Unmarshal([]byte(c.Data), &session); err != nil {
		return nil, session, models.ErrInternal(err)
	}
	return c, session, nil
}

func parseAssertion(credential json.RawMessage) (*protocol.ParsedCredentialAssertionData, error) {
	if len(credential) == 0 {
		return nil, models.ErrInvalid(map[string]string{"credential": "Send the passkey's answer."})
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, models.ErrPasskeyInvalid().WithCause(err)
	}
	return parsed, nil
}

// --- registration ---

// RegisterBegin starts registering a passkey for the signed-in user. It
// needs the proof every factor enrolment needs (proveForPasskeyChange):
// the password now, or a step-up with it in this session; a user without
// a password steps up with one of their passkeys instead.
func (p *Passkeys) RegisterBegin(ctx context.Context, pr Principal, password string, meta Meta) (*PasskeyOptions, error) {
	if err := p.forPrincipal(pr); err != nil {
		return nil, err
	}
	user, err := p.proveForPasskeyChange(ctx, pr, password, meta)
	if err != nil {
		return nil, err
	}
	all, err := p.store.ListWebAuthnCredentials(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	wu := passkeyUser{u: user}
	exclude := make([]protocol.CredentialDescriptor, 0, len(all))
	for _, c := range all {
		wc := toWebAuthn(c)
		exclude = append(exclude, wc.Descriptor())
	}
	creation, session, err := p.wa.BeginRegistration(wu, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("begin passkey registration: %w", err))
	}
	uid := user.ID
	return p.saveCeremony(ctx, models.CeremonyRegister, user.TenantID, &uid, pr.SessionID, session, creation)
}

// PasskeyRegistration is a registered passkey, and the recovery codes
// made with it when the user had none (shown once).
type PasskeyRegistration struct {
	Credential    *models.WebAuthnCredential
	RecoveryCodes []string
}

// RegisterFinish verifies the authenticator's answer to RegisterBegin and
// stores the passkey under name (a default when empty). The ceremony must
// be the same user's, begun in the same session. A passkey is a second
// factor: like enabling an authenticator app, the first one comes with
// recovery codes when the user has none, so that losing the device does
// not lock them out.
func (p *Passkeys) RegisterFinish(ctx context.Context, pr Principal, name string, credential json.RawMessage, meta Meta) (*PasskeyRegistration, error) {
	if err := p.forPrincipal(pr); err != nil {
		return nil, err
	}
	name, err := passkeyName(name)
	if err != nil {
		return nil, err
	}
	if len(credential) == 0 {
		return nil, models.ErrInvalid(map[string]string{"credential": "Send the passkey's answer."})
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, models.ErrPasskeyInvalid().WithCause(err)
	}
	c, session, err := p.takeCeremony(ctx, models.CeremonyRegister, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, err
	}
	if c.UserID == nil || *c.UserID != pr.UserID || c.TenantID != pr.TenantID || c.Ref != pr.SessionID {
		return nil, models.ErrPasskeyInvalid().WithCause(errors.New("registration ceremony of another user or session"))
	}
	user, err := p.login.users.GetUser(ctx, pr.TenantID, pr.UserID)
	if err != nil {
		return nil, err
	}
	cred, err := p.wa.CreateCredential(passkeyUser{u: user}, session, parsed)
	if err != nil {
		return nil, models.ErrPasskeyInvalid().WithCause(err)
	}
	out := &PasskeyRegistration{}
	row := &models.WebAuthnCredential{TenantID: user.TenantID, UserID: user.ID, Name: name, CredentialID: cred.ID, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState}
	for _, t := range cred.Transport {
		row.Transports = append(row.Transports, string(t))
	}
	err = p.tx.InTx(ctx, func(ctx context.Context) error {
		if err := p.store.CreateWebAuthnCredential(ctx, row); err != nil {
			if models.IsKind(err, models.KindConflict) {
				return models.ErrExists("passkey").WithMessage("This passkey is already registered.")
			}
			return err
		}
		n, err := p.login.recovery.CountRecoveryCodes(ctx, user.TenantID, user.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			codes, hashes, err := p.login.newRecoveryCodes(user.ID)
			if err != nil {
				return err
			}
			if err := p.login.recovery.ReplaceRecoveryCodes(ctx, user.TenantID, user.ID, hashes); err != nil {
				return err
			}
			out.RecoveryCodes = codes
		}
		return p.login.audit.Record(ctx, pr, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPasskeyAdded, Meta: meta,
			Metadata: map[string]any{"credential_id": row.ID, "name": row.Name, "user_verified": row.UserVerified, "recovery_codes": len(out.RecoveryCodes) > 0},
			Data:     map[string]any{"credential_id": row.ID, "name": row.Name}})
	})
	if err != nil {
		return nil, err
	}
	out.Credential = row
	return out, nil
}

func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if utf8.RuneCountInString(name) > 60 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", models.ErrInvalid(map[string]string{"name": "Use up to 60 characters, without control characters."})
	}
	return name, nil
}

// proveForPasskeyChange is the factor-change rule (proveForFactorChange:
// the password now, or a step-up done with it in this session) for a user
// who has a password. A user without one (signed in with a passkey or an
// upstream provider) has no password to give: a step-up done with a
// passkey in this session, or a sign-in of this session no older than a
// step-up lasts, stands in for it (a recent authentication either way).
func (p *Passkeys) proveForPasskeyChange(ctx context.Context, pr Principal, password string, meta Meta) (*models.User, error) {
	if pr.ActorID != "" {
		return nil, ErrImpersonationForbidden()
	}
	user, err := p.login.users.GetUser(ctx, pr.TenantID, pr.UserID)
	if err != nil {
		return nil, err
	}
	if user.PasswordHash != "" {
		return p.login.proveForFactorChange(ctx, pr, password, meta)
	}
	if pr.SessionID != "" {
		v, ok, err := p.login.stepUps.Get(ctx, stepUpKey(pr))
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
		}
		if until, method, parsed := parseStepUpFlag(v); ok && parsed && method == stepUpPasskey && p.login.now().Before(until) {
			return user, nil
		}
	}
	if !pr.AuthTime.IsZero() && p.login.now().Sub(pr.AuthTime) < p.stepUp.ttl {
		return user, nil
	}
	return nil, models.ErrPasswordRequired().WithMessage("Confirm it is you first: sign in again, or step up with one of your passkeys.")
}

// --- management ---

// List returns the signed-in user's passkeys.
func (p *Passkeys) List(ctx context.Context, pr Principal) ([]models.WebAuthnCredential, error) {
	if pr.ActorID != "" {
		return nil, ErrImpersonationForbidden()
	}
	if p.unavailable != nil {
		return []models.WebAuthnCredential{}, nil
	}
	return p.store.ListWebAuthnCredentials(ctx, pr.TenantID, pr.UserID)
}

// Rename names one of the signed-in user's passkeys.
func (p *Passkeys) Rename(ctx context.Context, pr Principal, id, name string, meta Meta) (*models.WebAuthnCredential, error) {
	if err := p.forPrincipal(pr); err != nil {
		return nil, err
	}
	name, err := passkeyName(name)
	if err != nil {
		return nil, err
	}
	var out *models.WebAuthnCredential
	err = p.tx.InTx(ctx, func(ctx context.Context) error {
		if err := p.store.RenameWebAuthnCredential(ctx, pr.TenantID, pr.UserID, id, name); err != nil {
			return notFoundPasskey(err)
		}
		c, err := p.store.GetWebAuthnCredential(ctx, pr.TenantID, pr.UserID, id)
		if err != nil {
			return err
		}
		out = c
		return p.login.audit.Record(ctx, pr, Event{TenantID: pr.TenantID, UserID: pr.UserID, Action: AuditPasskeyRenamed, Meta: meta,
			Metadata: map[string]any{"credential_id": id, "name": name},
			Data:     map[string]any{"credential_id": id, "name": name, "reason": "renamed"}})
	})
	return out, err
}

func notFoundPasskey(err error) error {
	if models.IsKind(err, models.KindNotFound) {
		return models.ErrNotFound("passkey")
	}
	return err
}

// Delete removes one of the signed-in user's passkeys. It needs the proof
// a factor change needs (proveForPasskeyChange), and is refused with
// ErrLastSignInMethod when it is the last way into the account
// (KeepsAWayIn, under the user's sign-in lock).
func (p *Passkeys) Delete(ctx context.Context, pr Principal, id, password string, meta Meta) error {
	if err := p.forPrincipal(pr); err != nil {
		return err
	}
	if _, err := p.proveForPasskeyChange(ctx, pr, password, meta); err != nil {
		return err
	}
	return p.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := p.locker.LockUserSignIn(ctx, pr.TenantID, pr.UserID)
		if err != nil {
			return err
		}
		c, err := p.store.GetWebAuthnCredential(ctx, pr.TenantID, pr.UserID, id)
		if err != nil {
			return notFoundPasskey(err)
		}
		if !c.Disabled { // a disabled passkey is no way in: removing it leaves every way there is
			if err := KeepsAWayIn(ctx, p.counter, u, RemovingPasskey); err != nil {
				return err
			}
		}
		if err := p.store.DeleteWebAuthnCredential(ctx, pr.TenantID, pr.UserID, id); err != nil {
			return notFoundPasskey(err)
		}
		return p.login.audit.Record(ctx, pr, Event{TenantID: pr.TenantID, UserID: pr.UserID, Action: AuditPasskeyRemoved, Meta: meta,
			Metadata: map[string]any{"credential_id": id, "name": c.Name},
			Data:     map[string]any{"credential_id": id, "name": c.Name}})
	})
}

// --- assertions ---

// verified is a passkey assertion that passed: the passkey and whether the
// authenticator verified its user.
type verified struct {
	cred         *models.WebAuthnCredential
	userVerified bool
}

// verify checks an assertion of one of user's passkeys against session,
// then the sign counter: one that does not advance (when not zero)
// disables the passkey (AuditPasskeyCloneDetected) and refuses. The
// counter is recorded by compare-and-set, so two assertions racing with
// one counter value are not both accepted.
func (p *Passkeys) verify(ctx context.Context, user *models.User, session webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData, meta Meta) (*verified, error) {
	rows, wu, err := p.usable(ctx, user)
	if err != nil {
		return nil, err
	}
	var cred *webauthn.Credential
	if len(session.UserID) == 0 { // discoverable: the user handle names the user
		_, cred, err = p.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if string(userHandle) != user.ID {
				return nil, errors.New("user handle of another user")
			}
			return wu, nil
		}, session, parsed)
	} else {
		cred, err = p.wa.ValidateLogin(wu, session, parsed)
	}
	if err != nil {
		return nil, models.ErrPasskeyInvalid().WithCause(err)
	}
	var row *models.WebAuthnCredential
	for i := range rows {
		if string(rows[i].CredentialID) == string(cred.ID) {
			row = &rows[i]
		}
	}
	if row == nil {
		return nil, models.ErrPasskeyInvalid()
	}
	if cred.Authenticator.CloneWarning {
		p.cloneDetected(ctx, user, row, parsed.Response.AuthenticatorData.Counter, meta)
		return nil, models.ErrPasskeyCloneDetected()
	}
	ok, err := p.store.UpdateWebAuthnCredentialUse(ctx, row.TenantID, row.ID, row.SignCount, cred.Authenticator.SignCount,
		parsed.Response.AuthenticatorData.Flags.HasBackupState(), p.login.now())
	if err != nil {
		return nil, err
	}
	if !ok { // disabled or used with the same counter by a concurrent sign-in
		return nil, models.ErrPasskeyInvalid().WithCause(errors.New("sign count raced"))
	}
	return &verified{cred: row, userVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified()}, nil
}

func (p *Passkeys) cloneDetected(ctx context.Context, user *models.User, row *models.WebAuthnCredential, got uint32, meta Meta) {
	err := p.tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := p.store.DisableWebAuthnCredential(ctx, row.TenantID, row.ID)
		if err != nil || !ok {
			return err
		}
		return p.login.audit.Record(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPasskeyCloneDetected, Meta: meta,
			Metadata: map[string]any{"credential_id": row.ID, "name": row.Name, "stored_count": row.SignCount, "presented_count": got},
			Data:     map[string]any{"credential_id": row.ID, "name": row.Name, "reason": "clone_detected"}})
	})
	if err != nil {
		p.login.log.ErrorContext(ctx, "disable cloned passkey", "credential_id", row.ID, "err", err)
	}
}

// beginLimit is the per-IP bound of passwordless begin steps: the IP
// failure budget's rate, under its own name.
func beginLimit(ipFailures Limit) Limit {
	ipFailures.Name = "passkey-begin"
	return ipFailures
}

func assertionAMR(uv bool) []string {
	if uv {
		return []string{"hwk", "user"}
	}
	return []string{"hwk"}
}

// --- second factor ---

// SecondFactorBegin answers a 2FA challenge's "use a passkey": assertion
// options for the user's usable passkeys.
func (p *Passkeys) SecondFactorBegin(ctx context.Context, challenge string, meta Meta) (*PasskeyOptions, error) {
	if p.unavailable != nil {
		return nil, p.unavailable
	}
	l := p.login
	at, err := l.beginAttempt(ctx, l.cfg.TwoFactorLimit, meta.IP, "")
	if err != nil {
		return nil, err
	}
	c, user, _, err := l.loadChallenge(ctx, challenge, models.ChallengeTwoFactor)
	if err != nil {
		at.failed(ctx)
		return nil, err
	}
	if err := l.limit(ctx, l.cfg.TwoFactorLimit, "passkey-2fa-begin:"+user.ID); err != nil {
		return nil, err
	}
	_, wu, err := p.usable(ctx, user)
	if err != nil {
		return nil, err
	}
	if len(wu.creds) == 0 {
		return nil, models.ErrInvalid(map[string]string{"challenge": "This account has no passkey. Use another way."})
	}
	assertion, session, err := p.wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("begin passkey login: %w", err))
	}
	uid := user.ID
	return p.saveCeremony(ctx, models.CeremonySecond, user.TenantID, &uid, c.ID, session, assertion)
}

// SecondFactorFinish verifies the passkey answering SecondFactorBegin and
// completes the login like VerifySecondFactor: the login challenge's
// attempt budget, consumed once, amr gains hwk (and user when the
// authenticator verified the person) and mfa.
func (p *Passkeys) SecondFactorFinish(ctx context.Context, challenge string, credential json.RawMessage, trust bool, meta Meta) (*LoginResult, error) {
	if p.unavailable != nil {
		return nil, p.unavailable
	}
	l := p.login
	first, err := l.beginAttempt(ctx, l.cfg.TwoFactorLimit, meta.IP, "")
	if err != nil {
		return nil, err
	}
	c, user, data, err := l.loadChallenge(ctx, challenge, models.ChallengeTwoFactor)
	if err != nil {
		first.failed(ctx)
		return nil, err
	}
	parsed, err := parseAssertion(credential)
	if err != nil {
		first.failed(ctx)
		return nil, err
	}
	at, err := l.claimCodeAttempt(ctx, c, user, meta.IP)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*LoginResult, error) {
		at.failed(ctx)
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: Audit2FAFailed, Meta: meta, Metadata: map[string]any{"method": "webauthn"}})
		return nil, err
	}
	cer, session, err := p.takeCeremony(ctx, models.CeremonySecond, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return fail(err)
	}
	if cer.Ref != c.ID || cer.UserID == nil || *cer.UserID != user.ID {
		return fail(models.ErrPasskeyInvalid().WithCause(errors.New("ceremony of another login")))
	}
	v, err := p.verify(ctx, user, session, parsed, meta)
	if err != nil {
		return fail(err)
	}
	at.succeeded(ctx)
	if consumed, err := l.challenges.ConsumeChallenge(ctx, c.ID); err != nil {
		return nil, err
	} else if !consumed {
		return nil, models.ErrInvalidChallenge().WithMessage("This sign-in step was already completed.")
	}
	l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: Audit2FAVerified, Meta: meta,
		Metadata: map[string]any{"method": "webauthn", "credential_id": v.cred.ID}})
	// The password and a passkey are two factors whether or not the
	// authenticator verified the person: mfa says so to AMRAndACR.
	data.AMR = append(append(data.AMR, assertionAMR(v.userVerified)...), "mfa")
	data.MultiFactor = true
	return l.complete(ctx, user, data, trust, meta)
}

// --- step-up ---

// stepUpPasskey is the step-up flag's method after a passkey.
const stepUpPasskey = "webauthn"

// StepUpBegin starts a step-up with one of the signed-in user's passkeys.
func (p *Passkeys) StepUpBegin(ctx context.Context, pr Principal, meta Meta) (*PasskeyOptions, error) {
	if pr.Kind == models.PrincipalServiceAccount {
		return nil, models.ErrStepUpNotAvailable()
	}
	if err := p.forPrincipal(pr); err != nil {
		return nil, err
	}
	if err := p.stepUp.limit(ctx, p.stepUp.cfg.TwoFactorLimit, "passkey-stepup:"+pr.UserID); err != nil {
		return nil, err
	}
	user, err := p.login.users.GetUser(ctx, pr.TenantID, pr.UserID)
	if err != nil {
		return nil, err
	}
	_, wu, err := p.usable(ctx, user)
	if err != nil {
		return nil, err
	}
	if len(wu.creds) == 0 {
		return nil, models.ErrInvalid(map[string]string{"passkey": "This account has no passkey."})
	}
	assertion, session, err := p.wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("begin passkey step-up: %w", err))
	}
	uid := user.ID
	return p.saveCeremony(ctx, models.CeremonyStepUp, user.TenantID, &uid, pr.SessionID, session, assertion)
}

// StepUpFinish verifies the passkey answering StepUpBegin (same user, same
// session) and elevates the session like StepUp.Elevate, with method
// "webauthn".
func (p *Passkeys) StepUpFinish(ctx context.Context, pr Principal, credential json.RawMessage, reason string, meta Meta) (time.Time, error) {
	if pr.Kind == models.PrincipalServiceAccount {
		return time.Time{}, models.ErrStepUpNotAvailable()
	}
	if err := p.forPrincipal(pr); err != nil {
		return time.Time{}, err
	}
	su := p.stepUp
	at, err := su.beginAttempt(ctx, su.cfg.TwoFactorLimit, meta.IP, "user:"+pr.UserID)
	if err != nil {
		return time.Time{}, err
	}
	parsed, err := parseAssertion(credential)
	if err != nil {
		return time.Time{}, err
	}
	cer, session, err := p.takeCeremony(ctx, models.CeremonyStepUp, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		at.failed(ctx)
		return time.Time{}, err
	}
	if cer.UserID == nil || *cer.UserID != pr.UserID || cer.TenantID != pr.TenantID || cer.Ref != pr.SessionID {
		at.failed(ctx)
		return time.Time{}, models.ErrPasskeyInvalid().WithCause(errors.New("step-up ceremony of another session"))
	}
	user, err := su.users.GetUser(ctx, pr.TenantID, pr.UserID)
	if err != nil {
		return time.Time{}, err
	}
	if err := p.login.checkActive(ctx, user); err != nil {
		return time.Time{}, err
	}
	v, err := p.verify(ctx, user, session, parsed, meta)
	if err != nil {
		at.failed(ctx)
		return time.Time{}, err
	}
	at.succeeded(ctx)
	until := su.now().Add(su.ttl)
	if err := su.stepUps.Set(ctx, stepUpKey(pr), stepUpFlag(until, stepUpPasskey), su.ttl); err != nil {
		return time.Time{}, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
	}
	su.recordOutside(ctx, pr, Event{TenantID: pr.TenantID, UserID: pr.UserID, Action: AuditStepUp, Meta: meta,
		Metadata: map[string]any{"method": stepUpPasskey, "credential_id": v.cred.ID, "user_verified": v.userVerified,
			"reason": truncate(reason, 200), "until": until}})
	return until, nil
}

// --- passwordless ---

// PasswordlessBegin starts a passwordless sign-in into the tenant named by
// its slug: assertion options with no allowed credentials (the
// authenticator offers its discoverable passkeys for this RP ID) and user
// verification required.
func (p *Passkeys) PasswordlessBegin(ctx context.Context, tenantSlug string, meta Meta) (*PasskeyOptions, error) {
	if p.unavailable != nil {
		return nil, p.unavailable
	}
	l := p.login
	if _, err := l.beginAttempt(ctx, l.cfg.LoginLimit, meta.IP, ""); err != nil {
		return nil, err
	}
	// Begins per IP: no account is known yet, so the (IP, account) pair
	// of a login cannot key it; the IP failure budget's rate bounds them
	// (a NAT of colleagues signing in stays under it).
	if b := beginLimit(l.cfg.IPFailureLimit); b.Rate > 0 && b.Period > 0 {
		if err := l.limit(ctx, b, "ip:"+meta.IP); err != nil {
			return nil, err
		}
	}
	tenant, err := l.users.GetTenantBySlug(ctx, strings.TrimSpace(tenantSlug))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil, models.ErrInvalid(map[string]string{"tenant": "No organisation has this name."})
		}
		return nil, err
	}
	assertion, session, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("begin passwordless login: %w", err))
	}
	// The authenticator is asked to verify its user; the finish step
	// checks the UV flag itself so that it can say why it refuses.
	session.UserVerification = protocol.VerificationPreferred
	return p.saveCeremony(ctx, models.CeremonyPasswordless, tenant.ID, nil, "", session, assertion)
}

// PasswordlessInput finishes a passwordless sign-in; Remember,
// WebSession, Browser, DeviceName and DeviceToken mean what they mean in
// LoginInput.
type PasswordlessInput struct {
	Credential        json.RawMessage
	Browser           bool
	WebSession        bool
	Remember          bool
	DeviceName        string
	DeviceToken       string
	ForceSecondFactor bool
	Meta              Meta
}

// PasswordlessFinish verifies a discoverable passkey of the tenant the
// ceremony began for and completes the sign-in through
// Login.SignInExternal with amr hwk+user, multi-factor. A passkey that did
// not verify its user is refused (ErrPasskeyUserVerificationRequired): a
// passkey alone without user verification is one factor, "something you
// have", and never signs anyone in without the password.
func (p *Passkeys) PasswordlessFinish(ctx context.Context, in PasswordlessInput) (*LoginResult, error) {
	if p.unavailable != nil {
		return nil, p.unavailable
	}
	l := p.login
	at, err := l.beginAttempt(ctx, l.cfg.LoginLimit, in.Meta.IP, "")
	if err != nil {
		return nil, err
	}
	parsed, err := parseAssertion(in.Credential)
	if err != nil {
		at.failed(ctx)
		return nil, err
	}
	cer, session, err := p.takeCeremony(ctx, models.CeremonyPasswordless, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		at.failed(ctx)
		return nil, err
	}
	row, err := p.store.GetWebAuthnCredentialByCredentialID(ctx, cer.TenantID, parsed.RawID)
	if err != nil {
		at.failed(ctx)
		if models.IsKind(err, models.KindNotFound) { // unknown here, or another tenant's
			return nil, models.ErrPasskeyInvalid().WithCause(err)
		}
		return nil, err
	}
	user, err := l.users.GetUser(ctx, row.TenantID, row.UserID)
	if err != nil {
		at.failed(ctx)
		return nil, models.ErrPasskeyInvalid().WithCause(err)
	}
	v, err := p.verify(ctx, user, session, parsed, in.Meta)
	if err != nil {
		at.failed(ctx)
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta,
			Metadata: map[string]any{"reason": "passkey_invalid", "amr": []string{"hwk"}}})
		return nil, err
	}
	if !v.userVerified {
		at.failed(ctx)
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta,
			Metadata: map[string]any{"reason": "passkey_user_not_verified", "credential_id": v.cred.ID, "amr": []string{"hwk"}}})
		return nil, models.ErrPasskeyUserVerificationRequired()
	}
	at.succeeded(ctx)
	return l.SignInExternal(ctx, ExternalSignIn{User: user, AMR: assertionAMR(true), MultiFactor: true,
		Browser: in.Browser, WebSession: in.WebSession, Remember: in.Remember, DeviceName: in.DeviceName, DeviceToken: in.DeviceToken,
		ForceSecondFactor: in.ForceSecondFactor, Meta: in.Meta})
}
