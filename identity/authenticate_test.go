package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// authFakes are the Authenticator's collaborators, as plain data.
type authFakes struct {
	tokens map[string]identity.TokenInfo
	// tokenErr, when set, is what every introspection returns.
	tokenErr error
	users    map[string]*models.User // by id
	suspend  bool
	userErr  error
	keys     map[string]string // key hash → service account id
	keyErr   error
	holders  map[string]struct {
		sa   string
		live bool
	}
	touched int
}

func (f *authFakes) Introspect(_ context.Context, token string) (identity.TokenInfo, error) {
	if f.tokenErr != nil {
		return identity.TokenInfo{}, f.tokenErr
	}
	info, ok := f.tokens[token]
	if !ok {
		return identity.TokenInfo{}, models.ErrInvalidToken()
	}
	return info, nil
}

func (f *authFakes) GetUserAndTenantState(_ context.Context, _, id string) (*models.User, bool, error) {
	if f.userErr != nil {
		return nil, false, f.userErr
	}
	u, ok := f.users[id]
	if !ok {
		return nil, false, models.ErrNotFound("user")
	}
	return u, f.suspend, nil
}

func (f *authFakes) LookupAPIKey(_ context.Context, hash string, _ time.Time) (string, string, string, *time.Time, error) {
	if f.keyErr != nil {
		return "", "", "", nil, f.keyErr
	}
	sa, ok := f.keys[hash]
	if !ok {
		return "", "", "", nil, models.ErrNotFound("api key")
	}
	return "key-1", "t-1", sa, nil, nil
}

func (f *authFakes) TouchAPIKey(context.Context, string, time.Time, time.Duration) error {
	f.touched++
	return nil
}

func (f *authFakes) ServiceAccountOfClient(_ context.Context, _, clientID string) (string, bool, error) {
	h, ok := f.holders[clientID]
	if !ok {
		return "", false, models.ErrNotFound("client")
	}
	return h.sa, h.live, nil
}

// macKeys is a KeyedHasher that shows what it hashed.
type macKeys struct{}

func (macKeys) MAC(purpose string, parts ...[]byte) string { return purpose + ":" + string(parts[0]) }

func TestAuthenticatorResolve(t *testing.T) {
	t.Parallel()
	key := "idk_" + strings.Repeat("k", 43)
	firstParty := "first-party-t-1"
	userToken := identity.TokenInfo{Kind: identity.TokenOfUser, TenantID: "t-1", Subject: "u-1", ClientID: firstParty, SessionID: "s-1",
		AuthTime: time.Unix(1700000000, 0).UTC(), AMR: []string{"pwd"}}
	impToken := userToken
	impToken.ActorID = "u-admin"
	thirdParty := userToken
	thirdParty.ClientID = "web"
	clientToken := identity.TokenInfo{Kind: identity.TokenOfClient, TenantID: "t-1", Subject: "svc", ClientID: "svc"}
	loose := identity.TokenInfo{Kind: identity.TokenOfClient, TenantID: "t-1", Subject: "loose", ClientID: "loose"}
	idle := identity.TokenInfo{Kind: identity.TokenOfClient, TenantID: "t-1", Subject: "idle", ClientID: "idle"}
	base := func() *authFakes {
		return &authFakes{
			tokens: map[string]identity.TokenInfo{"user": userToken, "imp": impToken, "third": thirdParty, "client": clientToken, "loose": loose, "idle": idle},
			users:  map[string]*models.User{"u-1": {ID: "u-1", TenantID: "t-1", IsActive: true, IsSystemAdmin: true}},
			keys:   map[string]string{keyring.PurposeLookup + ":" + key: "sa-1"},
			holders: map[string]struct {
				sa   string
				live bool
			}{"svc": {"sa-2", true}, "idle": {"sa-3", false}},
		}
	}
	down := models.ErrUnavailable("database", errors.New("connection refused"))
	tests := []struct {
		name   string
		bearer string
		fakes  func(*authFakes)
		want   identity.Principal
		// fails: the error's kind and code (code "" for any)
		fails bool
		kind  models.Kind
		code  string
	}{
		{name: "no credential", bearer: "", fails: true, kind: models.KindUnauthenticated, code: "unauthenticated"},
		{name: "an API key", bearer: key, want: identity.Principal{Kind: models.PrincipalServiceAccount, TenantID: "t-1", UserID: "sa-1"}},
		{name: "a malformed API key", bearer: "idk_short", fails: true, kind: models.KindUnauthenticated, code: "invalid_token"},
		{name: "an unknown API key", bearer: "idk_" + strings.Repeat("x", 43), fails: true, kind: models.KindUnauthenticated, code: "invalid_token"},
		{name: "API keys cannot be looked up", bearer: key, fakes: func(f *authFakes) { f.keyErr = down }, fails: true, kind: models.KindUnavailable},
		{name: "API keys time out", bearer: key, fakes: func(f *authFakes) { f.keyErr = context.DeadlineExceeded }, fails: true, kind: models.KindUnavailable},
		{name: "an inactive token", bearer: "nope", fails: true, kind: models.KindUnauthenticated, code: "invalid_token"},
		{name: "tokens cannot be looked up", bearer: "user", fakes: func(f *authFakes) { f.tokenErr = down }, fails: true, kind: models.KindUnavailable},
		{name: "a first-party user token of a system admin", bearer: "user", want: identity.Principal{Kind: models.PrincipalUser, TenantID: "t-1",
			UserID: "u-1", SessionID: "s-1", ClientID: firstParty, Token: "user", AuthTime: userToken.AuthTime, AMR: []string{"pwd"}, SystemAdmin: true}},
		{name: "an impersonation token never carries system administration", bearer: "imp", want: identity.Principal{Kind: models.PrincipalUser,
			TenantID: "t-1", UserID: "u-1", SessionID: "s-1", ClientID: firstParty, Token: "imp", AuthTime: userToken.AuthTime, AMR: []string{"pwd"}, ActorID: "u-admin"}},
		{name: "a user token of a third-party client", bearer: "third", fails: true, kind: models.KindForbidden, code: "first_party_token_required"},
		{name: "a deactivated user", bearer: "user", fakes: func(f *authFakes) { f.users["u-1"].IsActive = false }, fails: true, kind: models.KindUnauthenticated, code: "invalid_token"},
		{name: "a suspended tenant", bearer: "user", fakes: func(f *authFakes) { f.suspend = true }, fails: true, kind: models.KindUnauthenticated, code: "invalid_token"},
		{name: "a deleted user", bearer: "user", fakes: func(f *authFakes) { delete(f.users, "u-1") }, fails: true, kind: models.KindUnauthenticated, code: "invalid_token"},
		{name: "the user lookup fails", bearer: "user", fakes: func(f *authFakes) { f.userErr = models.ErrInternal(errors.New("boom")) }, fails: true, kind: models.KindInternal},
		{name: "a client held by a service account", bearer: "client", want: identity.Principal{Kind: models.PrincipalServiceAccount, TenantID: "t-1",
			UserID: "sa-2", ClientID: "svc", Token: "client"}},
		{name: "a client held by an inactive service account", bearer: "idle", fails: true, kind: models.KindUnauthenticated, code: "invalid_token"},
		{name: "a client no service account holds", bearer: "loose", fails: true, kind: models.KindForbidden, code: "principal_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			if tt.fakes != nil {
				tt.fakes(f)
			}
			a, err := identity.NewAuthenticator(identity.AuthenticatorDeps{Tokens: f, Store: f, Keys: macKeys{}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Resolve(t.Context(), tt.bearer)
			if tt.fails {
				var me *models.Error
				if !errors.As(err, &me) || me.Kind != tt.kind || tt.code != "" && me.Code != tt.code {
					t.Fatalf("error %v, want kind %s code %q", err, tt.kind, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tt.want.Kind || p.TenantID != tt.want.TenantID || p.UserID != tt.want.UserID || p.SessionID != tt.want.SessionID ||
				p.ClientID != tt.want.ClientID || p.Token != tt.want.Token || !p.AuthTime.Equal(tt.want.AuthTime) ||
				strings.Join(p.AMR, ",") != strings.Join(tt.want.AMR, ",") || p.SystemAdmin != tt.want.SystemAdmin || p.ActorID != tt.want.ActorID {
				t.Fatalf("principal %+v, want %+v", p, tt.want)
			}
		})
	}
}

// TestNewAuthenticatorNamesMissingDeps: a mis-wired authenticator fails at
// construction, naming what is missing.
func TestNewAuthenticatorNamesMissingDeps(t *testing.T) {
	t.Parallel()
	_, err := identity.NewAuthenticator(identity.AuthenticatorDeps{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"Tokens", "Store", "Keys"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%v does not name %s", err, name)
		}
	}
}
