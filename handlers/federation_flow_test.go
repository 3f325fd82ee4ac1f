package handlers_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// Issue 12 §1: the sign-in through a tenant's upstream identity provider,
// end to end. The upstream is a second identityd (real OpenID Connect over
// HTTP: discovery, its own login page, code + PKCE, signed ID tokens), or,
// where that one cannot say what a case needs (groups, a forged token, a
// wrong nonce, a slow token endpoint), a small OpenID Connect / OAuth 2.0
// server written below — a real HTTP server, no mocks.

// fedWorld is our server (rp) and the upstream identityd (up), with the
// upstream's client registered for our callback.
type fedWorld struct {
	rp, up     *apptest.Env
	mail       *apptest.Mailbox // what our server e-mails
	upIssuer   string
	upClient   *apptest.CreatedClient
	upClientID string
}

// sameBackend returns a fresh database of b's kind, for the second server.
func sameBackend(t *testing.T, b apptest.Backend) apptest.Backend {
	t.Helper()
	for _, o := range apptest.Backends(t) {
		if o.Name == b.Name {
			return o
		}
	}
	t.Fatalf("no second %s backend", b.Name)
	return b
}

// newFedWorld starts both servers. The upstream is reached as localhost and
// ours as 127.0.0.1: cookies are not port-specific, so two servers on one
// host name would overwrite each other's session cookies.
func newFedWorld(t *testing.T, b apptest.Backend, mutate func(*app.Config)) *fedWorld {
	t.Helper()
	up := apptest.NewEnv(t, sameBackend(t, b), func(cfg *app.Config) {
		cfg.Issuer = strings.Replace(cfg.Issuer, "127.0.0.1", "localhost", 1)
	})
	rp := apptest.NewEnv(t, b, mutate)
	mail := rp.CaptureMail()
	_, err := up.Store.UpdateUser(t.Context(), up.Tenant.ID, up.User.ID, func(u *models.User) error { u.EmailVerified = true; return nil })
	require.NoError(t, err)
	return &fedWorld{rp: rp, up: up, mail: mail, upIssuer: up.Config.Issuer}
}

// addUpstreamProvider registers a client upstream whose redirect URI is
// our callback of a new provider, and creates that provider in our tenant
// (through the storage, the secret sealed as the admin API seals it).
func (w *fedWorld) addUpstreamProvider(t *testing.T, mod func(*models.IdentityProvider)) *models.IdentityProvider {
	t.Helper()
	id := uuid.NewString()
	cc := w.up.WebClient(t, func(c *apptest.NewClient) {
		c.RedirectURIs = []string{w.rp.URL + "/api/auth/federation/" + id + "/callback"}
		c.SkipConsent = true
		c.PostLogoutRedirectURIs = []string{w.rp.URL + "/logout"}
	})
	w.upClient, w.upClientID = cc, cc.Client.ID
	p := &models.IdentityProvider{ID: id, TenantID: w.rp.Tenant.ID, Kind: models.ProviderOIDC, Name: "Upstream", Issuer: w.upIssuer,
		ClientID: cc.Client.ID, ClientAuthMethod: models.ProviderAuthSecretBasic, Scopes: models.StringList{"openid", "email", "profile"},
		JITProvisioning: true, Enabled: true}
	if mod != nil {
		mod(p)
	}
	createProvider(t, w.rp, p, cc.Secret)
	return p
}

func createProvider(t *testing.T, rp *apptest.Env, p *models.IdentityProvider, secret string) {
	t.Helper()
	if p.ID == "" {
		p.ID = uuid.NewString()
	}
	sealed, err := rp.Ring.Seal([]byte(secret), identity.IdentityProviderSecretAAD(p.ID))
	require.NoError(t, err)
	p.ClientSecretSealed = sealed
	require.NoError(t, rp.Store.CreateIdentityProvider(t.Context(), p))
}

// fedBrowser is a cookie-keeping client that stops at every redirect, so
// the test sees (and follows) each hop between the two servers.
type fedBrowser struct {
	t      *testing.T
	client *http.Client
}

func newFedBrowser(t *testing.T) *fedBrowser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &fedBrowser{t: t, client: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *fedBrowser) get(target string) *apptest.Result {
	b.t.Helper()
	resp, err := b.client.Get(target)
	require.NoError(b.t, err)
	return apptest.ReadResult(b.t, resp)
}

func (b *fedBrowser) post(target string, form url.Values) *apptest.Result {
	b.t.Helper()
	resp, err := b.client.PostForm(target, form)
	require.NoError(b.t, err)
	return apptest.ReadResult(b.t, resp)
}

// signIn runs a sign-in from start: it follows redirects, and signs in on
// the upstream's login page as email/password. It stops at the first page
// of our server (or anything that is neither a redirect nor the upstream's
// login page) and returns it with every URL visited.
func (b *fedBrowser) signIn(w *fedWorld, start, email, password string) (*apptest.Result, []string) {
	b.t.Helper()
	var seen []string
	res := b.get(start)
	seen = append(seen, start)
	for i := 0; i < 15; i++ {
		if loc := res.Location(b.t); loc != nil && res.Status >= 300 && res.Status < 400 {
			seen = append(seen, loc.String())
			res = b.get(loc.String())
			continue
		}
		if res.Status == http.StatusOK && strings.HasPrefix(res.URL.String(), w.upIssuer+"/login") {
			f := apptest.ParseForm(b.t, res)
			f.Fields.Set("email", email)
			f.Fields.Set("password", password)
			if f.Fields.Get("tenant") == "" {
				f.Fields.Set("tenant", w.up.Tenant.Slug)
			}
			res = b.post(f.Action, f.Fields)
			continue
		}
		return res, seen
	}
	b.t.Fatalf("the sign-in did not settle: %s %s", res.URL, res.String())
	return nil, nil
}

func startURL(w *apptest.Env, p *models.IdentityProvider) string {
	return w.URL + "/api/auth/federation/" + p.ID + "/start?tenant=" + url.QueryEscape(w.Tenant.Slug)
}

func fedAudits(t *testing.T, s *apptest.Env, action string) []map[string]string {
	t.Helper()
	return s.RowMaps(t, "SELECT action, user_id, metadata FROM audit_logs WHERE tenant_id = ? AND action = ? ORDER BY created_at", s.Tenant.ID, action)
}

// TestFederationJITAndLinking: the first upstream sign-in of a verified
// address provisions an account (no password, address verified) and links
// it, audited; the next sign-in is the same account; the session's methods
// say "fed"; an existing account with the upstream's address is linked only
// once its password is proven (a wrong one links nothing); an upstream
// address that is not verified is refused; a replayed state is refused; a
// state made for provider A is refused at provider B's callback.
func TestFederationJITAndLinking(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		w := newFedWorld(t, b, nil)
		p := w.addUpstreamProvider(t, nil)
		ctx := t.Context()

		t.Run("JIT", func(t *testing.T) {
			br := newFedBrowser(t)
			res, seen := br.signIn(w, startURL(w.rp, p), w.up.User.Email, apptest.Password)
			require.Equal(t, http.StatusOK, res.Status, res.String())
			require.Equal(t, "/account/security", res.URL.Path, "signed in: the account page (visited %v)", seen)
			u, err := w.rp.Store.GetUserByEmail(ctx, w.rp.Tenant.ID, w.up.User.Email)
			require.NoError(t, err, "the account was provisioned")
			require.True(t, u.EmailVerified, "the upstream vouched for the address")
			require.Empty(t, u.PasswordHash, "a provisioned account has no password")
			ids, err := w.rp.Store.ListUserIdentities(ctx, w.rp.Tenant.ID, u.ID)
			require.NoError(t, err)
			require.Len(t, ids, 1)
			require.Equal(t, w.up.User.ID, ids[0].Subject, "linked to the upstream subject")
			require.Len(t, fedAudits(t, w.rp, "user.provisioned"), 1)
			require.Len(t, fedAudits(t, w.rp, "user.identity_linked"), 1)
			amr := w.rp.Scalar(t, "SELECT auth_methods FROM sessions WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC LIMIT 1", w.rp.Tenant.ID, u.ID)
			require.Contains(t, amr, `"fed"`)
			for _, l := range fedAudits(t, w.rp, "user.login") {
				require.NotContains(t, l["metadata"], "eyJ", "no token in the audit row")
			}

			again, _ := newFedBrowser(t).signIn(w, startURL(w.rp, p), w.up.User.Email, apptest.Password)
			require.Equal(t, "/account/security", again.URL.Path, again.String())
			require.Equal(t, 1, w.rp.Int(t, "SELECT COUNT(*) FROM users WHERE tenant_id = ? AND email = ?", w.rp.Tenant.ID, strings.ToLower(w.up.User.Email)),
				"the second sign-in is the same account")
			require.Len(t, fedAudits(t, w.rp, "user.provisioned"), 1, "no second provisioning")

			replay := seen[len(seen)-2] // the callback URL with its code and state
			require.Contains(t, replay, "/callback?")
			cb, err := url.Parse(replay)
			require.NoError(t, err)
			// Another browser that has the callback URL: refused, not
			// bound to it (login CSRF).
			res = newFedBrowser(t).get(replay)
			require.Equal(t, http.StatusUnauthorized, res.Status, "a callback from another browser: %s", res.String())
			require.NotZero(t, w.rp.Int(t, "SELECT COUNT(*) FROM audit_logs WHERE action = ? AND metadata LIKE ?", "login.federation_failed", "%browser_mismatch%"),
				"the refusal is audited")
			// Even with the state's cookie too, a used state is refused.
			thief := newFedBrowser(t)
			thief.setStateCookie(w.rp, cb.Query().Get("state"))
			res = thief.get(replay)
			require.Equal(t, http.StatusUnauthorized, res.Status, "a replayed state is refused: %s", res.String())
			require.NotZero(t, w.rp.Int(t, "SELECT COUNT(*) FROM audit_logs WHERE action = ? AND metadata LIKE ?", "login.federation_failed", "%bad_state%"),
				"the replay is audited")
			require.Contains(t, string(res.Body), `href="/login`, "a way back to the sign-in page")
			require.Empty(t, thief.sessionCookie(w.rp))
		})

		t.Run("LinkNeedsProof", func(t *testing.T) {
			email := "grace." + apptest.RandomID(t, 6) + "@example.com"
			upUser := w.up.AddUser(t, apptest.NewUser{TenantSlug: w.up.Tenant.Slug, Email: email, Password: apptest.Password, Name: "Grace"})
			_, err := w.up.Store.UpdateUser(ctx, w.up.Tenant.ID, upUser.ID, func(u *models.User) error { u.EmailVerified = true; return nil })
			require.NoError(t, err)
			mine := w.rp.AddUser(t, apptest.NewUser{TenantSlug: w.rp.Tenant.Slug, Email: email, Password: "my own password 123", Name: "Grace here"})

			br := newFedBrowser(t)
			res, _ := br.signIn(w, startURL(w.rp, p), email, apptest.Password)
			require.Equal(t, http.StatusOK, res.Status, res.String())
			require.Equal(t, "/login/federation", res.URL.Path, "the link step, not a sign-in")
			require.Contains(t, string(res.Body), "already exists")
			ids, err := w.rp.Store.ListUserIdentities(ctx, w.rp.Tenant.ID, mine.ID)
			require.NoError(t, err)
			require.Empty(t, ids, "nothing is linked on the address alone")
			require.Empty(t, br.sessionCookie(w.rp), "not signed in")

			form := apptest.ParseForm(t, res)
			require.NotEmpty(t, form.Fields.Get("csrf"))
			form.Fields.Set("password", "not the password")
			bad := br.post(form.Action, form.Fields)
			require.Equal(t, http.StatusUnauthorized, bad.Status, bad.String())
			ids, _ = w.rp.Store.ListUserIdentities(ctx, w.rp.Tenant.ID, mine.ID)
			require.Empty(t, ids, "a wrong password links nothing")
			require.NotEmpty(t, fedAudits(t, w.rp, "login.federation_failed"))

			form = apptest.ParseForm(t, bad)
			form.Fields.Set("password", "my own password 123")
			ok := br.post(form.Action, form.Fields)
			require.Equal(t, http.StatusSeeOther, ok.Status, ok.String())
			require.Equal(t, "/account/security", ok.Location(t).Path)
			require.NotEmpty(t, br.sessionCookie(w.rp), "signed in")
			ids, _ = w.rp.Store.ListUserIdentities(ctx, w.rp.Tenant.ID, mine.ID)
			require.Len(t, ids, 1, "linked once the password was proven")
			require.Equal(t, upUser.ID, ids[0].Subject)

			// Linked now: the next upstream sign-in goes straight in.
			again, _ := newFedBrowser(t).signIn(w, startURL(w.rp, p), email, apptest.Password)
			require.Equal(t, "/account/security", again.URL.Path, again.String())
		})

		t.Run("LinkByEmailCode", func(t *testing.T) {
			email := "hedy." + apptest.RandomID(t, 6) + "@example.com"
			upUser := w.up.AddUser(t, apptest.NewUser{TenantSlug: w.up.Tenant.Slug, Email: email, Password: apptest.Password, Name: "Hedy"})
			_, err := w.up.Store.UpdateUser(ctx, w.up.Tenant.ID, upUser.ID, func(u *models.User) error { u.EmailVerified = true; return nil })
			require.NoError(t, err)
			mine := w.rp.AddUser(t, apptest.NewUser{TenantSlug: w.rp.Tenant.Slug, Email: email, Password: "hedy's own password 1", Name: "Hedy"})
			br := newFedBrowser(t)
			res, _ := br.signIn(w, startURL(w.rp, p), email, apptest.Password)
			require.Equal(t, "/login/federation", res.URL.Path, res.String())
			form := apptest.ParseForm(t, res)
			form.Fields.Del("password")
			form.Fields.Set("action", "send_code")
			sent := br.post(form.Action, form.Fields)
			require.Equal(t, http.StatusOK, sent.Status, sent.String())
			require.Contains(t, string(sent.Body), "We sent a 6-digit code")
			code, _ := w.mail.LastCode(t, email)
			form = apptest.ParseForm(t, sent)
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			form.Fields.Set("code", wrong)
			bad := br.post(form.Action, form.Fields)
			require.NotEqual(t, http.StatusSeeOther, bad.Status, "a wrong code links nothing: %s", bad.String())
			ids, _ := w.rp.Store.ListUserIdentities(ctx, w.rp.Tenant.ID, mine.ID)
			require.Empty(t, ids)
			form.Fields.Set("code", code)
			ok := br.post(form.Action, form.Fields)
			require.Equal(t, http.StatusSeeOther, ok.Status, ok.String())
			ids, _ = w.rp.Store.ListUserIdentities(ctx, w.rp.Tenant.ID, mine.ID)
			require.Len(t, ids, 1, "linked once the e-mailed code was proven")
		})

		t.Run("SecondFactor", func(t *testing.T) {
			// The provisioned account of the JIT case turns on e-mailed codes:
			// an upstream sign-in without MFA asks for the second factor on
			// the usual page.
			u, err := w.rp.Store.GetUserByEmail(ctx, w.rp.Tenant.ID, w.up.User.Email)
			require.NoError(t, err)
			_, err = w.rp.Store.UpdateUser(ctx, w.rp.Tenant.ID, u.ID, func(u *models.User) error { u.Email2FAEnabled = true; return nil })
			require.NoError(t, err)
			br := newFedBrowser(t)
			res, _ := br.signIn(w, startURL(w.rp, p), w.up.User.Email, apptest.Password)
			require.Equal(t, "/login/federation", res.URL.Path, res.String())
			require.Contains(t, string(res.Body), `action="/login/2fa"`, "the second-factor page")
			require.Empty(t, br.sessionCookie(w.rp), "not signed in before the second factor")
			code, _ := w.mail.LastCode(t, u.Email)
			form := apptest.ParseForm(t, res)
			form.Fields.Set("code", code)
			done := br.post(form.Action, form.Fields)
			require.Equal(t, http.StatusSeeOther, done.Status, done.String())
			require.NotEmpty(t, br.sessionCookie(w.rp))
			_, err = w.rp.Store.UpdateUser(ctx, w.rp.Tenant.ID, u.ID, func(u *models.User) error { u.Email2FAEnabled = false; return nil })
			require.NoError(t, err)
		})

		t.Run("LinkWhileSignedIn", func(t *testing.T) {
			q := w.addUpstreamProvider(t, func(q *models.IdentityProvider) { q.Name = "Second" })
			br := newFedBrowser(t)
			page := br.get(w.rp.URL + "/login?tenant=" + url.QueryEscape(w.rp.Tenant.Slug))
			f := apptest.ParseForm(t, page)
			f.Fields.Set("email", w.rp.User.Email)
			f.Fields.Set("password", apptest.Password)
			require.Equal(t, http.StatusSeeOther, br.post(f.Action, f.Fields).Status)
			res, _ := br.signIn(w, startURL(w.rp, q)+"&link=1", w.up.User.Email, apptest.Password)
			require.Equal(t, "/account/security", res.URL.Path, res.String())
			ids, err := w.rp.Store.ListUserIdentities(ctx, w.rp.Tenant.ID, w.rp.User.ID)
			require.NoError(t, err)
			require.Len(t, ids, 1, "the signed-in account is linked")
			require.Equal(t, q.ID, ids[0].ProviderID)
			// Without a signed-in browser, link=1 starts nothing.
			anon := newFedBrowser(t).get(startURL(w.rp, q) + "&link=1")
			require.Equal(t, http.StatusUnauthorized, anon.Status, anon.String())
		})

		t.Run("UnverifiedEmailRefused", func(t *testing.T) {
			email := "ivy." + apptest.RandomID(t, 6) + "@example.com"
			w.up.AddUser(t, apptest.NewUser{TenantSlug: w.up.Tenant.Slug, Email: email, Password: apptest.Password, Name: "Ivy"})
			res, _ := newFedBrowser(t).signIn(w, startURL(w.rp, p), email, apptest.Password)
			require.Equal(t, http.StatusForbidden, res.Status, res.String())
			require.Contains(t, string(res.Body), "did not confirm your e-mail address")
			_, err := w.rp.Store.GetUserByEmail(ctx, w.rp.Tenant.ID, email)
			require.True(t, models.IsKind(err, models.KindNotFound), "no account is provisioned: %v", err)
			var reasons []string
			for _, r := range fedAudits(t, w.rp, "login.federation_failed") {
				reasons = append(reasons, r["metadata"])
			}
			require.Contains(t, strings.Join(reasons, " "), "email_unverified")
			require.NotContains(t, w.rp.ErrorLogs(), "write audit log", "every refusal's audit row (and event) was written")
		})

		t.Run("MixUp", func(t *testing.T) {
			other := w.addUpstreamProvider(t, func(q *models.IdentityProvider) { q.Name = "Other" })
			br := newFedBrowser(t)
			res := br.get(startURL(w.rp, p))
			require.Equal(t, http.StatusFound, res.Status, res.String())
			authURL := res.Location(t)
			require.Equal(t, "S256", authURL.Query().Get("code_challenge_method"))
			require.NotEmpty(t, authURL.Query().Get("nonce"))
			require.NotEmpty(t, authURL.Query().Get("state"))
			require.Equal(t, "code", authURL.Query().Get("response_type"))
			// The upstream answers A's request; the answer is replayed at
			// B's callback path.
			state := authURL.Query().Get("state")
			cb := w.rp.URL + "/api/auth/federation/" + other.ID + "/callback?code=whatever&state=" + url.QueryEscape(state)
			got := br.get(cb)
			require.Equal(t, http.StatusUnauthorized, got.Status, "a state of provider A at provider B's callback: %s", got.String())
			require.NotEmpty(t, auditActionsWithReason(t, w.rp, "provider_mismatch"))
			require.Empty(t, br.sessionCookie(w.rp))
		})

		t.Run("DomainDiscovery", func(t *testing.T) {
			q := w.addUpstreamProvider(t, func(q *models.IdentityProvider) {
				q.Name, q.AllowedDomains = "Corp", models.StringList{"corp.example"}
			})
			br := newFedBrowser(t)
			page := br.get(w.rp.URL + "/login?tenant=" + url.QueryEscape(w.rp.Tenant.Slug))
			require.Equal(t, http.StatusOK, page.Status)
			require.Contains(t, string(page.Body), "Sign in with Upstream", "the provider's button")
			require.Contains(t, string(page.Body), "Continue with single sign-on")
			f := apptest.ParseForm(t, page)
			f.Fields.Set("email", "someone@corp.example")
			f.Fields.Set("sso", "1")
			res := br.post(f.Action, f.Fields)
			require.Equal(t, http.StatusSeeOther, res.Status, res.String())
			require.Equal(t, "/api/auth/federation/"+q.ID+"/start", res.Location(t).Path, "straight to the provider, no password asked")
		})

		t.Run("UpstreamLogout", func(t *testing.T) {
			br := newFedBrowser(t)
			res, _ := br.signIn(w, startURL(w.rp, p), w.up.User.Email, apptest.Password)
			require.Equal(t, "/account/security", res.URL.Path, res.String())
			page := br.get(w.rp.URL + "/logout")
			f := apptest.ParseForm(t, page)
			out := br.post(f.Action, f.Fields)
			require.Equal(t, http.StatusSeeOther, out.Status, out.String())
			loc := out.Location(t)
			require.True(t, strings.HasPrefix(loc.String(), w.upIssuer+"/logout"), "on to the upstream's end_session_endpoint: %s", loc)
			require.NotEmpty(t, loc.Query().Get("id_token_hint"))
			require.Equal(t, w.rp.URL+"/logout", loc.Query().Get("post_logout_redirect_uri"))
			require.Empty(t, br.sessionCookie(w.rp), "our session ended")
		})
	})
}

func auditActionsWithReason(t *testing.T, s *apptest.Env, reason string) []map[string]string {
	var out []map[string]string
	for _, r := range fedAudits(t, s, "login.federation_failed") {
		if strings.Contains(r["metadata"], `"`+reason+`"`) {
			out = append(out, r)
		}
	}
	return out
}

// setStateCookie gives the browser the cookie that binds a flow's state.
func (b *fedBrowser) setStateCookie(s *apptest.Env, state string) {
	u, _ := url.Parse(s.URL + "/api/auth/federation/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "identity_federation_state", Value: state, Path: "/api/auth/federation"}})
}

func (b *fedBrowser) sessionCookie(s *apptest.Env) string {
	u, _ := url.Parse(s.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "identity_session" {
			return c.Value
		}
	}
	return ""
}

// fakeUpstream is a small OpenID Connect (or plain OAuth 2.0) provider:
// discovery, JWKS, a token endpoint and userinfo, with what it answers
// chosen per test. It signs with signKey and publishes jwksKey (the same
// key unless a test forges).
type fakeUpstream struct {
	srv      *httptest.Server
	signKey  *rsa.PrivateKey
	jwksKey  *rsa.PrivateKey
	mu       sync.Mutex
	audience string
	nonce    func(sent string) string
	userinfo map[string]any
	idClaims map[string]any
	hang     bool
	lastAuth url.Values
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	f := &fakeUpstream{signKey: key, jwksKey: key, nonce: func(s string) string { return s }}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := f.srv.URL
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"jwks_uri": base + "/jwks", "userinfo_endpoint": base + "/userinfo", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.jwksKey.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hang := f.hang
		f.mu.Unlock()
		_ = r.ParseForm() // the body read, the server sees the caller hang up
		if hang {
			select { // never answers: the caller's deadline ends it
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		out := map[string]any{"access_token": "at-" + uuid.NewString(), "token_type": "Bearer", "expires_in": 300}
		if f.idClaims != nil {
			claims := map[string]any{"iss": f.srv.URL, "aud": f.audience, "exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix()}
			for k, v := range f.idClaims {
				claims[k] = v
			}
			claims["nonce"] = f.nonce(f.lastAuth.Get("nonce"))
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: f.signKey}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			raw, err := jwt.Signed(signer).Claims(claims).Serialize()
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			out["id_token"] = raw
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.userinfo)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// begin starts a flow at our server and returns the state the upstream
// would send back (the fake upstream has no login page: the test plays
// the browser's return).
func (f *fakeUpstream) begin(t *testing.T, br *fedBrowser, rp *apptest.Env, p *models.IdentityProvider) string {
	t.Helper()
	res := br.get(startURL(rp, p))
	require.Equal(t, http.StatusFound, res.Status, res.String())
	loc := res.Location(t)
	f.mu.Lock()
	f.lastAuth = loc.Query()
	f.mu.Unlock()
	return loc.Query().Get("state")
}

func callbackURL(rp *apptest.Env, p *models.IdentityProvider, state string) string {
	return rp.URL + "/api/auth/federation/" + p.ID + "/callback?code=c-" + uuid.NewString() + "&state=" + url.QueryEscape(state)
}

// TestFederationTokenValidation: an ID token signed with a key the issuer's
// JWKS does not publish, one for another audience and one with a wrong
// nonce are refused and audited; the same upstream with a good token signs
// the person in.
func TestFederationTokenValidation(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		rp := apptest.NewEnv(t, b, nil)
		up := newFakeUpstream(t)
		p := &models.IdentityProvider{TenantID: rp.Tenant.ID, Kind: models.ProviderOIDC, Name: "Fake", Issuer: up.srv.URL, ClientID: "our-client",
			ClientAuthMethod: models.ProviderAuthSecretPost, JITProvisioning: true, Enabled: true}
		createProvider(t, rp, p, "s3cret")
		email := "tok." + apptest.RandomID(t, 6) + "@example.com"
		good := map[string]any{"sub": "u-1", "email": email, "email_verified": true, "name": "Tok", "amr": []string{"pwd", "otp"}}
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		tests := []struct {
			name   string
			setup  func()
			reason string
		}{
			{"ForgedSignature", func() { up.signKey, up.audience, up.idClaims = other, "our-client", good }, "invalid_id_token"},
			{"WrongAudience", func() { up.signKey, up.audience, up.idClaims = up.jwksKey, "someone-else", good }, "invalid_id_token"},
			{"WrongNonce", func() {
				up.signKey, up.audience, up.idClaims = up.jwksKey, "our-client", good
				up.nonce = func(string) string { return "not-the-nonce" }
			}, "nonce_mismatch"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				up.mu.Lock()
				tt.setup()
				up.mu.Unlock()
				before := len(auditActionsWithReason(t, rp, tt.reason))
				br := newFedBrowser(t)
				state := up.begin(t, br, rp, p)
				res := br.get(callbackURL(rp, p, state))
				require.Equal(t, http.StatusUnauthorized, res.Status, res.String())
				require.Empty(t, br.sessionCookie(rp))
				require.Len(t, auditActionsWithReason(t, rp, tt.reason), before+1)
				_, err := rp.Store.GetUserByEmail(t.Context(), rp.Tenant.ID, email)
				require.True(t, models.IsKind(err, models.KindNotFound), "nobody provisioned")
			})
		}
		t.Run("Good", func(t *testing.T) {
			up.mu.Lock()
			up.signKey, up.audience, up.idClaims = up.jwksKey, "our-client", good
			up.nonce = func(s string) string { return s }
			up.mu.Unlock()
			br := newFedBrowser(t)
			state := up.begin(t, br, rp, p)
			res := br.get(callbackURL(rp, p, state))
			require.Equal(t, http.StatusSeeOther, res.Status, res.String())
			require.NotEmpty(t, br.sessionCookie(rp))
			u, err := rp.Store.GetUserByEmail(t.Context(), rp.Tenant.ID, email)
			require.NoError(t, err)
			amr := rp.Scalar(t, "SELECT auth_methods FROM sessions WHERE tenant_id = ? AND user_id = ?", rp.Tenant.ID, u.ID)
			require.Contains(t, amr, `"fed"`)
			require.Contains(t, amr, `"mfa"`, "the upstream's otp makes it multi-factor")
		})
	})
}

// TestFederationGroupRoles: a plain OAuth 2.0 provider (token, then a
// userinfo URL with dotted-path claim mapping) whose groups map to a role:
// given at sign-in, taken back when the group is gone, never taking a role
// an administrator gave.
func TestFederationGroupRoles(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		rp := apptest.NewEnv(t, b, nil)
		up := newFakeUpstream(t)
		ctx := t.Context()
		tid := rp.Tenant.ID
		mapped := &models.Role{TenantID: &tid, Name: "Auditors", Permissions: models.StringList{"identity.audit.read"}}
		require.NoError(t, rp.Store.CreateRole(ctx, mapped))
		manual := &models.Role{TenantID: &tid, Name: "Helpers", Permissions: models.StringList{"identity.users.read"}}
		require.NoError(t, rp.Store.CreateRole(ctx, manual))
		p := &models.IdentityProvider{TenantID: rp.Tenant.ID, Kind: models.ProviderOAuth2, Name: "Plain", ClientID: "plain",
			AuthorizationURL: up.srv.URL + "/authorize", TokenURL: up.srv.URL + "/token", UserinfoURL: up.srv.URL + "/userinfo",
			ClientAuthMethod: models.ProviderAuthSecretBasic, Scopes: models.StringList{"read:user"},
			Claims:     models.ClaimMapping{Subject: "id", Email: "profile.mail", EmailVerified: "profile.verified", Groups: "teams"},
			GroupRoles: models.GroupRoleMap{"auditors": {"Auditors"}, "helpers": {"Helpers"}}, JITProvisioning: true, Enabled: true}
		createProvider(t, rp, p, "plain-secret")
		email := "plain." + apptest.RandomID(t, 6) + "@example.com"
		signIn := func(teams ...string) *models.User {
			t.Helper()
			up.mu.Lock()
			up.idClaims = nil
			up.userinfo = map[string]any{"id": 4242, "profile": map[string]any{"mail": email, "verified": true}, "teams": teams}
			up.mu.Unlock()
			br := newFedBrowser(t)
			state := up.begin(t, br, rp, p)
			res := br.get(callbackURL(rp, p, state))
			require.Equal(t, http.StatusSeeOther, res.Status, res.String())
			u, err := rp.Store.GetUserByEmail(ctx, rp.Tenant.ID, email)
			require.NoError(t, err)
			return u
		}
		roles := func(u *models.User) []string {
			m, err := rp.Store.PrincipalRoles(ctx, rp.Tenant.ID, []string{u.ID})
			require.NoError(t, err)
			var out []string
			for _, r := range m[u.ID] {
				out = append(out, r.Name)
			}
			return out
		}
		u := signIn("auditors")
		require.ElementsMatch(t, []string{"Auditors"}, roles(u), "the mapped role is given")
		require.Len(t, fedAudits(t, rp, "role.assigned"), 1)
		ids, err := rp.Store.ListUserIdentities(ctx, rp.Tenant.ID, u.ID)
		require.NoError(t, err)
		require.Equal(t, "4242", ids[0].Subject, "the subject read through the mapping")

		// An administrator gives Helpers by hand; the mapping never owns it.
		require.NoError(t, rp.Store.AssignRole(ctx, rp.Tenant.ID, u.ID, models.PrincipalUser, manual.ID))
		u = signIn("helpers")
		require.ElementsMatch(t, []string{"Helpers"}, roles(u), "Auditors taken back with its group; Helpers, held already, kept")
		require.Len(t, fedAudits(t, rp, "role.unassigned"), 1)
		u = signIn()
		require.ElementsMatch(t, []string{"Helpers"}, roles(u), "a role the mapping did not give is never taken")

		// A plain OAuth 2.0 provider without a usable authorization
		// endpoint, or set up for private_key_jwt, says so at the start.
		broken := &models.IdentityProvider{TenantID: rp.Tenant.ID, Kind: models.ProviderOAuth2, Name: "Broken", ClientID: "b",
			AuthorizationURL: "javascript:alert(1)", TokenURL: up.srv.URL + "/token", Enabled: true}
		createProvider(t, rp, broken, "b")
		res := newFedBrowser(t).get(startURL(rp, broken))
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, res.String())
		require.Empty(t, res.Header.Get("Location"))
		pkj := &models.IdentityProvider{TenantID: rp.Tenant.ID, Kind: models.ProviderOAuth2, Name: "PKJ", ClientID: "k",
			AuthorizationURL: up.srv.URL + "/authorize", TokenURL: up.srv.URL + "/token", ClientAuthMethod: models.ProviderAuthPrivateKey, Enabled: true}
		createProvider(t, rp, pkj, "k")
		res = newFedBrowser(t).get(startURL(rp, pkj))
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, res.String())
		require.Contains(t, string(res.Body), "private_key_jwt")
	})
}

// TestFederationUpstreamDown: an issuer that accepts connections and never
// answers, and a token endpoint that never answers, each end in a 503
// within the deadline (IDENTITY_FEDERATION_TIMEOUT), never a hang.
func TestFederationUpstreamDown(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		rp := apptest.NewEnv(t, b, func(cfg *app.Config) { cfg.FederationTimeout = time.Second })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var held []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			_ = ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range held {
				_ = c.Close()
			}
		})
		dead := &models.IdentityProvider{TenantID: rp.Tenant.ID, Kind: models.ProviderOIDC, Name: "Dead", Issuer: "http://" + ln.Addr().String(),
			ClientID: "x", ClientAuthMethod: models.ProviderAuthSecretBasic, Enabled: true}
		createProvider(t, rp, dead, "x")
		br := newFedBrowser(t)
		began := time.Now()
		res := br.get(startURL(rp, dead))
		require.Equal(t, http.StatusServiceUnavailable, res.Status, res.String())
		require.Less(t, time.Since(began), 30*time.Second, "a generous bound: the deadline is one second")
		require.Contains(t, string(res.Body), "not answering")

		up := newFakeUpstream(t)
		slow := &models.IdentityProvider{TenantID: rp.Tenant.ID, Kind: models.ProviderOIDC, Name: "Slow", Issuer: up.srv.URL,
			ClientID: "x", ClientAuthMethod: models.ProviderAuthSecretBasic, JITProvisioning: true, Enabled: true}
		createProvider(t, rp, slow, "x")
		state := up.begin(t, br, rp, slow)
		up.mu.Lock()
		up.hang = true
		up.mu.Unlock()
		began = time.Now()
		res = br.get(callbackURL(rp, slow, state))
		require.Equal(t, http.StatusServiceUnavailable, res.Status, res.String())
		require.Less(t, time.Since(began), 30*time.Second)
	})
}

// TestFederationProviderFromTheAdminAPI is an administrator's whole
// set-up: create the provider through the API, register its redirect_uri
// with the upstream, set the upstream's client id and secret with PATCH,
// and a person signs in through it (the flow opens the secret the admin
// API sealed).
func TestFederationProviderFromTheAdminAPI(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		w := newFedWorld(t, b, nil)
		owner := newRoleUser(t, w.rp.Server, w.rp.Tenant, userOpts{role: identity.RoleOwner})
		tok := w.rp.Login(t, w.rp.Tenant.Slug, owner.Email, apptest.Password)
		created := w.rp.Call(t, http.MethodPost, "/api/identity-providers", tok, map[string]any{
			"kind": "oidc", "name": "Upstream", "issuer": w.upIssuer, "client_id": "to-be-set", "client_secret": "to-be-set",
			"jit_provisioning": true})
		require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
		id, redirect := created.Str("id"), created.Str("redirect_uri")
		require.Equal(t, w.rp.URL+"/api/auth/federation/"+id+"/callback", redirect)
		cc := w.up.WebClient(t, func(c *apptest.NewClient) {
			c.RedirectURIs = []string{redirect}
			c.SkipConsent = true
		})
		patched := w.rp.Call(t, http.MethodPatch, "/api/identity-providers/"+id, tok, map[string]any{
			"client_id": cc.Client.ID, "client_secret": cc.Secret})
		require.Equal(t, http.StatusOK, patched.Status, "%s", patched.Body)

		p, err := w.rp.Store.GetIdentityProvider(t.Context(), w.rp.Tenant.ID, id)
		require.NoError(t, err)
		br := newFedBrowser(t)
		res, seen := br.signIn(w, startURL(w.rp, p), w.up.User.Email, apptest.Password)
		require.Equal(t, http.StatusOK, res.Status, res.String())
		require.Equal(t, "/account/security", res.URL.Path, "signed in through the provider the API made (visited %v)", seen)
		u, err := w.rp.Store.GetUserByEmail(t.Context(), w.rp.Tenant.ID, w.up.User.Email)
		require.NoError(t, err, "the account was provisioned")
		ids, err := w.rp.Store.ListUserIdentities(t.Context(), w.rp.Tenant.ID, u.ID)
		require.NoError(t, err)
		require.Len(t, ids, 1)
	})
}
