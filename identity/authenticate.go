package identity

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// TokenKind says whom an access token was issued to.
type TokenKind string

// The kinds of access token.
const (
	// TokenOfUser is a user's token (a login, an authorization code, an
	// impersonation).
	TokenOfUser TokenKind = "user"
	// TokenOfClient is a client-credentials token: the client itself.
	TokenOfClient TokenKind = "client"
)

// TokenInfo is what introspection tells about an active access token.
type TokenInfo struct {
	Kind     TokenKind
	TenantID string
	// Subject is the user's id (TokenOfUser) or the client's.
	Subject   string
	ClientID  string
	SessionID string
	AuthTime  time.Time
	AMR       []string
	// ActorID is the admin of an impersonation token (the "act" claim,
	// RFC 8693 §4.1); "" otherwise.
	ActorID string
}

// TokenIntrospector looks a bearer access token up (the HTTP layer adapts
// oauth.Provider.IntrospectAccessToken to it). An unknown, expired or
// revoked token, or one that is not an access token, is an error of kind
// Unauthenticated; a lookup that could not be made (the database or cache
// is down) is models.ErrUnavailable, never "inactive".
type TokenIntrospector interface {
	Introspect(ctx context.Context, token string) (TokenInfo, error)
}

// AuthenticatorStore is what Authenticator needs from storage: the reads
// every authenticated request makes.
type AuthenticatorStore interface {
	// GetUserAndTenantState returns the tenant's user and whether the
	// tenant is suspended, in one query; NotFound for an unknown user.
	GetUserAndTenantState(ctx context.Context, tenantID, id string) (*models.User, bool, error)
	// LookupAPIKey finds a live key by its keyed hash in one indexed read;
	// anything else (revoked, expired, inactive account, suspended tenant)
	// is NotFound.
	LookupAPIKey(ctx context.Context, keyHash string, now time.Time) (keyID, tenantID, serviceAccountID string, lastUsedAt *time.Time, err error)
	// TouchAPIKey records a use unless one was recorded within every (of
	// concurrent touches at most one writes).
	TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) error
	// ServiceAccountOfClient returns the holder of a client and whether it
	// may act (active, in a live tenant); a client without a holder is
	// NotFound.
	ServiceAccountOfClient(ctx context.Context, tenantID, clientID string) (string, bool, error)
}

// Authenticator turns a bearer credential into the principal of a request:
// an API key, a first-party user token (impersonation included), or a
// client-credentials token of a client held by a service account.
type Authenticator struct {
	tokens TokenIntrospector
	store  AuthenticatorStore
	keys   KeyedHasher
	now    func() time.Time
	log    *slog.Logger
}

// AuthenticatorDeps are what NewAuthenticator needs; Now and Log are optional.
type AuthenticatorDeps struct {
	Tokens TokenIntrospector
	Store  AuthenticatorStore
	// Keys makes the keyed hash an API key is looked up by (keyring.Keyring).
	Keys KeyedHasher
	Now  func() time.Time
	Log  *slog.Logger
}

// NewAuthenticator checks d and returns the service.
func NewAuthenticator(d AuthenticatorDeps) (*Authenticator, error) {
	if err := checkDeps("Authenticator", dep{"Tokens", d.Tokens == nil}, dep{"Store", d.Store == nil}, dep{"Keys", d.Keys == nil}); err != nil {
		return nil, err
	}
	return &Authenticator{tokens: d.Tokens, store: d.Store, keys: d.Keys, now: clockOr(d.Now), log: logOr(d.Log)}, nil
}

// outage reports an error that says nothing about the credential: a
// dependency was down or too slow.
func outage(err error) bool {
	return models.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded)
}

// unavailableAs is err as a 503 of what: err itself when it already is one.
func unavailableAs(what string, err error) error {
	var me *models.Error
	if errors.As(err, &me) && me.Kind == models.KindUnavailable {
		return me
	}
	return models.ErrUnavailable(what, err)
}

// Resolve returns the principal of bearer:
//   - an API key ("idk_…"): its service account;
//   - a user's access token: only one from the login API (the tenant's
//     first-party client; any other client's is Forbidden
//     first_party_token_required), whose user must still be active in a
//     live tenant. System administration is read from the user row on
//     every request (never from the token), and an impersonation token
//     (ActorID, the admin) never carries it;
//   - a client-credentials token: the service account holding the client
//     (Forbidden principal_not_allowed for a client no account holds).
//
// An empty, unknown or inactive credential is Unauthenticated; a lookup
// that could not be made is Unavailable (503), never a false 401.
func (s *Authenticator) Resolve(ctx context.Context, bearer string) (Principal, error) {
	if bearer == "" {
		return Principal{}, errUnauthenticated()
	}
	if strings.HasPrefix(bearer, apiKeyPrefix) {
		p, err := s.AuthenticateAPIKey(ctx, bearer)
		if err != nil && outage(err) {
			return Principal{}, unavailableAs("api key lookup", err)
		}
		if err != nil {
			return Principal{}, errBadKey()
		}
		return p, nil
	}
	info, err := s.tokens.Introspect(ctx, bearer)
	if err != nil && outage(err) {
		return Principal{}, unavailableAs("token lookup", err)
	}
	if err != nil {
		return Principal{}, models.ErrInvalidToken()
	}
	switch info.Kind {
	case TokenOfUser:
		if info.ClientID != models.FirstPartyClientPrefix+info.TenantID {
			return Principal{}, models.ErrFirstPartyTokenRequired()
		}
		p := Principal{Kind: models.PrincipalUser, TenantID: info.TenantID, UserID: info.Subject, SessionID: info.SessionID,
			ClientID: info.ClientID, Token: bearer, AuthTime: info.AuthTime, AMR: info.AMR, ActorID: info.ActorID}
		u, suspended, err := s.store.GetUserAndTenantState(ctx, p.TenantID, p.UserID)
		if err == nil && (!u.IsActive || suspended) {
			err = models.ErrInvalidToken().WithMessage("")
		}
		if err != nil {
			if models.IsKind(err, models.KindInternal) {
				return Principal{}, err
			}
			return Principal{}, models.ErrInvalidToken().WithMessage("The user of this token is not active.")
		}
		p.SystemAdmin = u.IsSystemAdmin && p.ActorID == ""
		return p, nil
	case TokenOfClient:
		p, ok, err := s.ServiceAccountForClient(ctx, info.TenantID, info.ClientID)
		if err != nil {
			return Principal{}, err
		}
		if ok {
			p.Token = bearer
			return p, nil
		}
	}
	return Principal{}, models.ErrPrincipalNotAllowed()
}

func errUnauthenticated() error {
	return models.ErrUnauthenticated()
}

// errBadKey is the one answer for every unusable key, so a caller cannot
// tell unknown from revoked, expired or suspended.
func errBadKey() error {
	return models.ErrInvalidToken().WithMessage("The API key is not valid.")
}

// AuthenticateAPIKey returns the service-account principal of a live key:
// one indexed read by the key's keyed hash, then at most one write a minute
// recording its use.
func (s *Authenticator) AuthenticateAPIKey(ctx context.Context, key string) (Principal, error) {
	if !strings.HasPrefix(key, apiKeyPrefix) || len(key) != len(apiKeyPrefix)+43 {
		return Principal{}, errBadKey()
	}
	now := s.now()
	keyID, tenantID, saID, lastUsed, err := s.store.LookupAPIKey(ctx, hashAPIKey(s.keys, key), now)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return Principal{}, errBadKey()
		}
		return Principal{}, err
	}
	if lastUsed == nil || now.Sub(*lastUsed) >= apiKeyTouchEvery {
		if err := s.store.TouchAPIKey(ctx, keyID, now, apiKeyTouchEvery); err != nil {
			s.log.WarnContext(ctx, "record api key use", "err", err)
		}
	}
	return Principal{Kind: models.PrincipalServiceAccount, TenantID: tenantID, UserID: saID}, nil
}

// ServiceAccountForClient returns the principal a client-credentials token
// of clientID acts as: the service account holding the client. ok is false
// for a client no service account holds; an inactive account or a suspended
// tenant is Unauthenticated.
func (s *Authenticator) ServiceAccountForClient(ctx context.Context, tenantID, clientID string) (Principal, bool, error) {
	saID, live, err := s.store.ServiceAccountOfClient(ctx, tenantID, clientID)
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind == models.KindNotFound {
			return Principal{}, false, nil
		}
		return Principal{}, false, err
	}
	if !live {
		return Principal{}, false, models.ErrInvalidToken().WithMessage("The service account of this client is not active.")
	}
	return Principal{Kind: models.PrincipalServiceAccount, TenantID: tenantID, UserID: saID, ClientID: clientID}, true, nil
}
