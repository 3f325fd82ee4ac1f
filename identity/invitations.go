package identity

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// Audit actions of invitations; their metadata never holds the token.
const (
	AuditInvitationCreated  = "invitation.created"
	AuditInvitationResent   = "invitation.resent"
	AuditInvitationRevoked  = "invitation.revoked"
	AuditInvitationAccepted = "invitation.accepted"
)

// DefaultInvitationTTL is how long an invitation link lasts
// (IDENTITY_INVITATION_TTL).
const DefaultInvitationTTL = 7 * 24 * time.Hour

const (
	maxInvitationMessage = 1000
	maxInvitationRoles   = 20
)

// InvitationStore is what Invitations needs of the invitations table.
// Another tenant's invitation, or a malformed id, is NotFound "invitation".
type InvitationStore interface {
	CreateInvitation(ctx context.Context, i *models.Invitation) error
	GetInvitation(ctx context.Context, tenantID, id string) (*models.Invitation, error)
	GetInvitationByTokenHash(ctx context.Context, hash string) (*models.Invitation, error)
	// ListInvitations returns one page, newest first, and the count of
	// all that match; the status ("" for all) is the state at f.Now.
	ListInvitations(ctx context.Context, f models.InvitationFilter) ([]models.Invitation, int, error)
	// RevokeInvitation withdraws a pending invitation in one statement;
	// false when it was not pending.
	RevokeInvitation(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
	// ReissueInvitation sets a new token hash and expiry unless accepted or
	// revoked; false then.
	ReissueInvitation(ctx context.Context, tenantID, id, tokenHash string, expiresAt time.Time) (bool, error)
	// ClaimInvitation marks a pending invitation accepted in one
	// statement: of concurrent claims exactly one is true.
	ClaimInvitation(ctx context.Context, id, tokenHash string, now time.Time) (bool, error)
	// SetInvitationUser records who accepted it.
	SetInvitationUser(ctx context.Context, id, userID string) error
}

// InvitationPeople is what Invitations needs of tenants and users.
type InvitationPeople interface {
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// GetUserByEmail returns the tenant's user with that address, or NotFound.
	GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error)
	CreateUser(ctx context.Context, u *models.User) error
	UpdateUser(ctx context.Context, tenantID, userID string, fn func(u *models.User) error) (*models.User, error)
}

// InvitationSignIn completes the sign-in of a new member (Login.SignInAccepted).
type InvitationSignIn interface {
	SignInAccepted(ctx context.Context, user *models.User, browser bool, deviceName string, meta Meta) (*LoginResult, error)
}

// Invitations lets a tenant's members invite people by e-mail, with roles
// the inviter could assign. The link carries a random token stored only as
// a keyed hash; accepting it once (claimed atomically) creates the user,
// or adds the roles to the address's existing account, and marks the
// e-mail verified.
type Invitations struct {
	store  InvitationStore
	people InvitationPeople
	grants MembershipStore
	tx     Tx
	audit  Auditor
	keys   Sealer
	mailer Mailer
	signIn InvitationSignIn
	issuer string
	ttl    time.Duration
	cost   int
	log    *slog.Logger
}

// InvitationsDeps are what NewInvitations needs; TTL (default 7 days),
// PasswordCost and Log are optional.
type InvitationsDeps struct {
	Store       InvitationStore
	People      InvitationPeople
	Memberships MembershipStore
	Tx          Tx
	Auditor     Auditor
	Keys        Sealer
	Mailer      Mailer
	SignIn      InvitationSignIn
	// Issuer is the public base URL the accept link is built on.
	Issuer       string
	TTL          time.Duration
	PasswordCost int
	Log          *slog.Logger
}

// NewInvitations checks d and returns the service.
func NewInvitations(d InvitationsDeps) (*Invitations, error) {
	if err := checkDeps("Invitations", dep{"Store", d.Store == nil}, dep{"People", d.People == nil},
		dep{"Memberships", d.Memberships == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil},
		dep{"Keys", d.Keys == nil}, dep{"Mailer", d.Mailer == nil}, dep{"SignIn", d.SignIn == nil},
		dep{"Issuer", d.Issuer == ""}); err != nil {
		return nil, err
	}
	if d.TTL <= 0 {
		d.TTL = DefaultInvitationTTL
	}
	if d.PasswordCost == 0 {
		d.PasswordCost = bcrypt.DefaultCost
	}
	return &Invitations{store: d.Store, people: d.People, grants: d.Memberships, tx: d.Tx, audit: d.Auditor, keys: d.Keys,
		mailer: d.Mailer, signIn: d.SignIn, issuer: strings.TrimRight(d.Issuer, "/"), ttl: d.TTL, cost: d.PasswordCost, log: logOr(d.Log)}, nil
}

// InvitationView is an invitation with its status and role names.
type InvitationView struct {
	models.Invitation
	Status    string
	RoleNames []string
}

// NewInvitation is what Create takes; Roles are role ids or names.
type NewInvitation struct {
	Email   string
	Roles   []string
	Message string
}

func invitationTokenHash(k Sealer, token string) string {
	return k.MAC(keyring.PurposeLookup, []byte("invitation"), []byte(token))
}

func (s *Invitations) now() time.Time { return time.Now().UTC() }

func (s *Invitations) view(ctx context.Context, i *models.Invitation) InvitationView {
	v := InvitationView{Invitation: *i, Status: i.Status(s.now()), RoleNames: []string{}}
	for _, id := range i.Roles {
		if r, err := s.grants.GetRole(ctx, i.TenantID, id); err == nil {
			v.RoleNames = append(v.RoleNames, r.Name)
		}
	}
	return v
}

// AcceptURL is the page link of a token.
func (s *Invitations) AcceptURL(token string) string {
	return s.issuer + "/invitations/accept?token=" + url.QueryEscape(token)
}

// Create invites in.Email into the actor's tenant with in.Roles, each of
// which the actor must be able to grant (CanGrant), and mails the link.
func (s *Invitations) Create(ctx context.Context, a Actor, in NewInvitation) (*InvitationView, error) {
	fields := map[string]string{}
	email := checkEmail(fields, in.Email)
	msg := strings.TrimSpace(in.Message)
	if utf8.RuneCountInString(msg) > maxInvitationMessage || clientHasControl(strings.NewReplacer("\n", "", "\r", "").Replace(msg)) {
		fields["message"] = fmt.Sprintf("Use at most %d characters, without control characters.", maxInvitationMessage)
	}
	if len(in.Roles) > maxInvitationRoles {
		fields["roles"] = fmt.Sprintf("Give at most %d roles.", maxInvitationRoles)
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	token, err := keyring.RandomToken(32)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	inv := &models.Invitation{TenantID: a.TenantID, Email: email, Message: msg, Roles: models.StringList{},
		TokenHash: invitationTokenHash(s.keys, token), ExpiresAt: s.now().Add(s.ttl)}
	if a.Kind == models.PrincipalUser && a.UserID != "" {
		uid := a.UserID
		inv.InviterID = &uid
	}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		roles, err := grantableRoles(ctx, s.grants, a, in.Roles)
		if err != nil {
			return err
		}
		for _, r := range roles {
			inv.Roles = append(inv.Roles, r.ID)
		}
		if err := s.store.CreateInvitation(ctx, inv); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditInvitationCreated, Metadata: map[string]any{
			"invitation_id": inv.ID, "email": inv.Email, "roles": []string(inv.Roles), "expires_at": inv.ExpiresAt},
			Subject: inv.ID, Data: map[string]any{"role_ids": []string(inv.Roles)}})
	})
	if err != nil {
		return nil, err
	}
	v := s.view(ctx, inv)
	s.send(ctx, &v, token)
	return &v, nil
}

// send mails the invitation's link; a failure is logged (the invitation
// exists and can be resent).
func (s *Invitations) send(ctx context.Context, v *InvitationView, token string) {
	company, inviter := "your organisation", "A colleague"
	if t, err := s.people.GetTenant(ctx, v.TenantID); err == nil {
		company = t.Name
	}
	if v.InviterID != nil {
		if u, err := s.people.GetUser(ctx, v.TenantID, *v.InviterID); err == nil && u.Name != "" {
			inviter = u.Name
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s has invited you to join %s.\n\n", inviter, company)
	if v.Message != "" {
		fmt.Fprintf(&b, "Their message:\n%s\n\n", v.Message)
	}
	fmt.Fprintf(&b, "To accept, open this link:\n%s\n\n", s.AcceptURL(token))
	fmt.Fprintf(&b, "The link works once and expires on %s.\nIf you did not expect this, ignore this e-mail.\n",
		v.ExpiresAt.Format("2 January 2006 at 15:04 UTC"))
	m := Message{TenantID: v.TenantID, To: v.Email, Subject: fmt.Sprintf("%s invited you to join %s", inviter, company), Text: b.String()}
	if err := s.mailer.Send(ctx, m); err != nil {
		s.log.ErrorContext(ctx, "send invitation", "invitation_id", v.ID, "err", err)
	}
}

// InvitationQuery selects a page of invitations: Status is pending,
// accepted, expired, revoked or "" for all; Page and PerPage page like the
// users listing (0: the defaults).
type InvitationQuery struct {
	Status  string
	Page    int
	PerPage int
}

// InvitationPage is one page of invitations, newest first.
type InvitationPage struct {
	Invitations []InvitationView
	Page        int
	PerPage     int
	Total       int
}

// List returns one page of the tenant's invitations, filtered by status.
func (s *Invitations) List(ctx context.Context, tenantID string, q InvitationQuery) (*InvitationPage, error) {
	fields := map[string]string{}
	q.Page, q.PerPage = checkPage(fields, q.Page, q.PerPage)
	q.Status = strings.TrimSpace(q.Status)
	switch q.Status {
	case "", models.InvitationPending, models.InvitationAccepted, models.InvitationExpired, models.InvitationRevoked:
	default:
		fields["status"] = "Use pending, accepted, expired or revoked."
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	list, total, err := s.store.ListInvitations(ctx, models.InvitationFilter{TenantID: tenantID, Status: q.Status, Now: s.now(),
		Offset: (q.Page - 1) * q.PerPage, Limit: q.PerPage})
	if err != nil {
		return nil, err
	}
	out := &InvitationPage{Invitations: make([]InvitationView, 0, len(list)), Page: q.Page, PerPage: q.PerPage, Total: total}
	for k := range list {
		out.Invitations = append(out.Invitations, s.view(ctx, &list[k]))
	}
	return out, nil
}

// Get returns one of the tenant's invitations.
func (s *Invitations) Get(ctx context.Context, tenantID, id string) (*InvitationView, error) {
	i, err := s.store.GetInvitation(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	v := s.view(ctx, i)
	return &v, nil
}

// stateError is the answer for an invitation that is no longer pending.
func stateError(status string) error {
	switch status {
	case models.InvitationAccepted:
		return models.ErrInvitationUsed()
	case models.InvitationRevoked:
		return models.ErrInvitationRevoked()
	case models.InvitationExpired:
		return models.ErrInvitationExpired()
	}
	return nil
}

// Revoke withdraws a pending invitation; its link stops working.
func (s *Invitations) Revoke(ctx context.Context, a Actor, id string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.RevokeInvitation(ctx, a.TenantID, id, s.now())
		if err != nil {
			return err
		}
		if !ok {
			i, err := s.store.GetInvitation(ctx, a.TenantID, id)
			if err != nil {
				return err
			}
			return stateError(i.Status(s.now()))
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditInvitationRevoked, Metadata: map[string]any{"invitation_id": id}, Subject: id})
	})
}

// Resend gives a pending (or expired) invitation a new token and expiry
// and mails the new link; the old link stops working.
func (s *Invitations) Resend(ctx context.Context, a Actor, id string) (*InvitationView, error) {
	token, err := keyring.RandomToken(32)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	exp := s.now().Add(s.ttl)
	var inv *models.Invitation
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.ReissueInvitation(ctx, a.TenantID, id, invitationTokenHash(s.keys, token), exp)
		if err != nil {
			return err
		}
		if inv, err = s.store.GetInvitation(ctx, a.TenantID, id); err != nil {
			return err
		}
		if !ok {
			return stateError(inv.Status(s.now()))
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditInvitationResent, Metadata: map[string]any{"invitation_id": id, "expires_at": exp}})
	})
	if err != nil {
		return nil, err
	}
	v := s.view(ctx, inv)
	s.send(ctx, &v, token)
	return &v, nil
}

// InvitationLookup is what the holder of a link may see of it.
type InvitationLookup struct {
	TenantName  string
	TenantSlug  string
	InviterName string
	Email       string
	Roles       []string
	Status      string
	ExpiresAt   time.Time
	// HasAccount reports whether the address already has an account in
	// the tenant (then no password is needed to accept).
	HasAccount bool
}

func (s *Invitations) byToken(ctx context.Context, token string) (*models.Invitation, string, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 100 {
		return nil, "", models.ErrNotFound("invitation")
	}
	hash := invitationTokenHash(s.keys, token)
	i, err := s.store.GetInvitationByTokenHash(ctx, hash)
	if err != nil {
		return nil, "", err
	}
	return i, hash, nil
}

// Lookup describes the invitation of a link (nothing secret); an unknown
// token is NotFound "invitation".
func (s *Invitations) Lookup(ctx context.Context, token string) (*InvitationLookup, error) {
	i, _, err := s.byToken(ctx, token)
	if err != nil {
		return nil, err
	}
	v := s.view(ctx, i)
	out := &InvitationLookup{Email: i.Email, Roles: v.RoleNames, Status: v.Status, ExpiresAt: i.ExpiresAt}
	if t, err := s.people.GetTenant(ctx, i.TenantID); err == nil {
		out.TenantName, out.TenantSlug = t.Name, t.Slug
	}
	if i.InviterID != nil {
		if u, err := s.people.GetUser(ctx, i.TenantID, *i.InviterID); err == nil {
			out.InviterName = u.Name
		}
	}
	if _, err := s.people.GetUserByEmail(ctx, i.TenantID, i.Email); err == nil {
		out.HasAccount = true
	}
	return out, nil
}

// AcceptInput is what the holder of a link sends to accept it.
type AcceptInput struct {
	Token    string
	Name     string
	Password string
	// Browser asks for a browser session instead of a bearer token.
	Browser    bool
	DeviceName string
	Meta       Meta
}

// Accepted is an accepted invitation: the member, and their sign-in when
// one was made (a new account); SignIn is nil for an existing account,
// which signs in normally.
type Accepted struct {
	User       *models.User
	NewAccount bool
	SignIn     *LoginResult
}

// Accept claims the invitation of in.Token (once: concurrent accepts of
// one link create one user) and creates the user with in.Password (the
// password policy applied) or, when the address already has an account in
// the tenant, gives it the roles. Either way the e-mail is marked
// verified. A new account is signed in; an existing one is not (nobody
// proved its password) and signs in as usual.
func (s *Invitations) Accept(ctx context.Context, in AcceptInput) (*Accepted, error) {
	inv, hash, err := s.byToken(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	if err := stateError(inv.Status(s.now())); err != nil {
		return nil, err
	}
	// A suspended tenant, or one whose deletion is pending, takes no new
	// members: refused before any account is made (the sign-in would be
	// refused after it).
	tenant, err := s.people.GetTenant(ctx, inv.TenantID)
	if err != nil {
		return nil, err
	}
	switch {
	case tenant.SuspendedAt != nil:
		return nil, ErrTenantSuspended()
	case tenant.DeletesAt != nil:
		return nil, models.ErrTenantPendingDeletion()
	}
	existing, err := s.people.GetUserByEmail(ctx, inv.TenantID, inv.Email)
	if err != nil && !models.IsKind(err, models.KindNotFound) {
		return nil, err
	}
	var pwHash string
	if existing == nil {
		fields := map[string]string{}
		name := checkName(fields, in.Name)
		in.Name = name
		if in.Password == "" {
			fields["password"] = "Required: choose a password for your new account."
		}
		if len(fields) > 0 {
			return nil, models.ErrInvalid(fields)
		}
		if err := CheckPassword(in.Password, inv.Email); err != nil {
			return nil, err
		}
		h, err := hashPassword(ctx, in.Password, s.cost)
		if err != nil {
			return nil, err
		}
		pwHash = string(h)
	}
	out := &Accepted{}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.ClaimInvitation(ctx, inv.ID, hash, s.now())
		if err != nil {
			return err
		}
		if !ok {
			cur, err := s.store.GetInvitation(ctx, inv.TenantID, inv.ID)
			if err != nil {
				return err
			}
			if e := stateError(cur.Status(s.now())); e != nil {
				return e
			}
			return models.ErrInvitationUsed() // the token changed (resent)
		}
		var u *models.User
		if existing == nil {
			u = &models.User{TenantID: inv.TenantID, Email: inv.Email, Name: in.Name, PasswordHash: pwHash, EmailVerified: true, IsActive: true}
			if err := s.people.CreateUser(ctx, u); err != nil {
				return err
			}
			out.NewAccount = true
		} else {
			if u, err = s.people.UpdateUser(ctx, inv.TenantID, existing.ID, func(u *models.User) error {
				setEmail(u, u.Email, true) // the link went to this address
				return nil
			}); err != nil {
				return err
			}
		}
		held, err := s.grants.PrincipalRoles(ctx, inv.TenantID, []string{u.ID})
		if err != nil {
			return err
		}
		added := []string{}
		for _, rid := range inv.Roles {
			if slices.ContainsFunc(held[u.ID], func(r models.Role) bool { return r.ID == rid }) {
				continue
			}
			if _, err := s.grants.GetRole(ctx, inv.TenantID, rid); err != nil {
				if models.IsKind(err, models.KindNotFound) {
					continue // deleted since the invitation was made
				}
				return err
			}
			if err := s.grants.AssignRole(ctx, inv.TenantID, u.ID, models.PrincipalUser, rid); err != nil && !models.IsKind(err, models.KindConflict) {
				return err
			}
			added = append(added, rid)
		}
		if err := s.store.SetInvitationUser(ctx, inv.ID, u.ID); err != nil {
			return err
		}
		out.User = u
		// The user's own events (about the user, in its order): a new
		// account, or an address the link proved; the roles it gained.
		userEvents := []string{EventUserVerified}
		if out.NewAccount {
			userEvents = []string{EventUserCreated}
		} else if existing.EmailVerified {
			userEvents = []string{}
		}
		if err := s.audit.publish(ctx, Principal{}, Event{TenantID: inv.TenantID, UserID: u.ID, Publish: userEvents,
			Data: mergeData(userData(u), map[string]any{"invitation_id": inv.ID, "roles": added})}); err != nil {
			return err
		}
		for _, rid := range added {
			if err := s.audit.publish(ctx, Principal{}, Event{TenantID: inv.TenantID, UserID: u.ID, Publish: []string{EventRoleAssigned},
				Data: map[string]any{"role_id": rid, "holder_type": models.PrincipalUser, "invitation_id": inv.ID}}); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, Principal{}, Event{TenantID: inv.TenantID, UserID: u.ID, Action: AuditInvitationAccepted, Meta: in.Meta,
			Metadata: map[string]any{"invitation_id": inv.ID, "new_account": out.NewAccount, "roles_added": added},
			Subject:  inv.ID, Data: map[string]any{"new_account": out.NewAccount, "role_ids": added}})
	})
	if err != nil {
		return nil, err
	}
	if out.NewAccount {
		if out.SignIn, err = s.signIn.SignInAccepted(ctx, out.User, in.Browser, in.DeviceName, in.Meta); err != nil {
			return nil, err
		}
	}
	return out, nil
}
