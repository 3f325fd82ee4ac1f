package handlers_test

// Issue 8 §5 (protocol edges) and §2's introspection items, end to end with
// real clients (golang.org/x/oauth2, go-oidc) on every configured backend.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/ory/fosite/token/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// rawGet fetches target without following redirects, as a browser would
// send it (Accept: text/html).
func rawGet(t *testing.T, target string) *apptest.Result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/html")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	return apptest.ReadResult(t, resp)
}

// TestE2EMaxAge: max_age=0 (OpenID Connect Core §3.1.2.1: like
// prompt=login) completes after one fresh login instead of sending the
// browser back to the login form forever, with or without an existing
// session; auth_time is in the ID token. A max_age the session meets shows
// no login form.
func TestE2EMaxAge(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID)
		provider, err := oidc.NewProvider(ctx, e.Server.URL)
		require.NoError(t, err)

		tests := []struct {
			name       string
			session    bool // signed in before the request
			maxAge     string
			loginPages int
		}{
			{"max_age=0 without a session", false, "0", 1},
			{"max_age=0 with a session", true, "0", 1},
			{"max_age the session meets", true, "3600", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				br := e.Server.NewBrowser(t)
				if tt.session {
					require.NotNil(t, br.Authorize(e, newAuthRequest(cfg).URL, true, "").Callback)
				}
				start := time.Now().Unix()
				ar := newAuthRequest(cfg, oauth2.SetAuthURLParam("max_age", tt.maxAge))
				f := br.Authorize(e, ar.URL, true, "")
				require.Equal(t, tt.loginPages, f.LoginPages, "login forms shown")
				tok := ar.exchange(t, cfg, f.Code(t, ar.State))
				_, claims := verifyIDToken(t, provider, web.Client.ID, tok, ar.Nonce)
				if tt.maxAge == "0" {
					require.GreaterOrEqual(t, claims.AuthTime, start-1, "auth_time is the fresh login's")
				}
			})
		}
	})
}

// TestE2ERequestObjectsUnsupported: request and request_uri get their
// registered errors (OpenID Connect Core §6.3) at the client's redirect URI
// once the client and redirect URI are verified, our error page when they
// are not; never a 500 or an empty body. Discovery says neither is supported.
func TestE2ERequestObjectsUnsupported(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID)

		res := rawGet(t, e.Server.URL+"/.well-known/openid-configuration")
		require.Equal(t, http.StatusOK, res.Status)
		disco := res.JSON(t)
		require.Equal(t, false, disco["request_parameter_supported"])
		require.Equal(t, false, disco["request_uri_parameter_supported"])
		require.Equal(t, e.Server.URL+"/logout", disco["end_session_endpoint"])

		tests := []struct {
			name     string
			param    string
			value    string
			scopes   []string
			redirect string
			want     string // error at the redirect URI; "" for the error page
		}{
			{"request_uri", "request_uri", "https://client.example/request.jwt", []string{"openid"}, apptest.RedirectURI, "request_uri_not_supported"},
			{"request_uri without openid", "request_uri", "urn:example:req", []string{"email"}, apptest.RedirectURI, "request_uri_not_supported"},
			{"request", "request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", []string{"openid"}, apptest.RedirectURI, "request_not_supported"},
			{"request without openid", "request", "x.y.z", []string{"email"}, apptest.RedirectURI, "request_not_supported"},
			{"request_uri with an unregistered redirect URI", "request_uri", "https://client.example/request.jwt", []string{"openid"}, "https://evil.example/cb", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := *cfg
				c.Scopes = tt.scopes
				c.RedirectURL = tt.redirect
				ar := newAuthRequest(&c, oauth2.SetAuthURLParam(tt.param, tt.value))
				// Without Accept: text/html (an API client) never a 500 or an
				// empty body either.
				req, err := http.NewRequest(http.MethodGet, ar.URL, nil)
				require.NoError(t, err)
				resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
				require.NoError(t, err)
				plain := apptest.ReadResult(t, resp)
				require.Less(t, plain.Status, 500, "never a server error: %s", plain.Body)
				require.True(t, len(plain.Body) > 0 || plain.Header.Get("Location") != "", "an answer, not an empty body")

				// POSTed (the endpoint takes GET and POST): the same answer.
				u, err := url.Parse(ar.URL)
				require.NoError(t, err)
				preq, err := http.NewRequest(http.MethodPost, e.Server.URL+u.Path, strings.NewReader(u.RawQuery))
				require.NoError(t, err)
				preq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				preq.Header.Set("Accept", "text/html")
				presp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(preq)
				require.NoError(t, err)
				posted := apptest.ReadResult(t, presp)
				require.Less(t, posted.Status, 500, "never a server error: %s", posted.Body)
				if tt.want != "" {
					require.Equal(t, tt.want, posted.Location(t).Query().Get("error"), "%d %s", posted.Status, posted.Body)
				}

				res := rawGet(t, ar.URL)
				require.Less(t, res.Status, 500, "never a server error")
				if tt.want == "" {
					require.NotEmpty(t, res.Body, "never an empty body")
					require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
					require.Empty(t, res.Header.Get("Location"))
					require.Contains(t, res.Header.Get("Content-Type"), "text/html")
					return
				}
				require.Equal(t, http.StatusSeeOther, res.Status, "%s", res.Body)
				loc := res.Location(t)
				require.Equal(t, apptest.RedirectURI, loc.Scheme+"://"+loc.Host+loc.Path)
				require.Equal(t, tt.want, loc.Query().Get("error"))
				require.Equal(t, ar.State, loc.Query().Get("state"))
				require.Empty(t, loc.Query().Get("code"))
			})
		}
	})
}

// TestE2EShortNonce: a nonce shorter than fosite's minimum (8) is refused at
// the authorization endpoint with an error redirect, before any login, not
// accepted there and failed at the code exchange.
func TestE2EShortNonce(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID)
		for _, tt := range []struct {
			name, nonce, want string
		}{
			{"short", "abc1234", "invalid_request"},
			{"one character", "n", "invalid_request"},
			{"minimum length", "abcd1234", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				v := oauth2.GenerateVerifier()
				br := e.Server.NewBrowser(t)
				f := br.Authorize(e, cfg.AuthCodeURL("state-"+tt.name, oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("nonce", tt.nonce)), true, "")
				if tt.want != "" {
					require.Equal(t, 0, f.LoginPages, "refused before the login form")
					require.Equal(t, tt.want, f.Error(t))
					require.Equal(t, "state-"+tt.name, f.Callback.Query().Get("state"))
					return
				}
				tok, err := cfg.Exchange(t.Context(), f.Code(t, "state-"+tt.name), oauth2.VerifierOption(v))
				require.NoError(t, err)
				require.NotEmpty(t, tok.Extra("id_token"))
			})
		}
	})
}

// TestE2ELogoutRedirect: RP-initiated logout returns to
// post_logout_redirect_uri only when it exactly matches one registered for
// the client that id_token_hint (verified, expired accepted) or client_id
// names; with no client, a mismatch, a forged hint or no session, the
// signed-out page and no redirect. state is passed back.
func TestE2ELogoutRedirect(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, func(c *app.Config) {
			// Allowed for plain logins, and no longer for logouts.
			c.RedirectOrigins = []string{"https://app.example.com"}
		})
		const bye = "https://client.example/signed-out"
		cc := e.WebClient(t, func(in *apptest.NewClient) {
			in.SkipConsent = true
			in.PostLogoutRedirectURIs = []string{bye, "https://client.example/bye?lang=en"}
		})
		other := e.WebClient(t, func(in *apptest.NewClient) {
			in.SkipConsent = true
			in.PostLogoutRedirectURIs = []string{"https://other.example/bye"}
		})
		cfg := e.Server.OAuthConfig(cc, oidc.ScopeOpenID)
		signIn := func(t *testing.T) (*apptest.Browser, string) {
			t.Helper()
			br := e.Server.NewBrowser(t)
			ar := newAuthRequest(cfg)
			f := br.Authorize(e, ar.URL, true, "")
			tok := ar.exchange(t, cfg, f.Code(t, ar.State))
			idt, _ := tok.Extra("id_token").(string)
			require.NotEmpty(t, idt)
			return br, idt
		}
		logout := func(t *testing.T, br *apptest.Browser, q url.Values) *apptest.Result {
			t.Helper()
			page := br.Get(e.Server.URL + "/logout?" + q.Encode())
			require.Equal(t, http.StatusOK, page.Status)
			f := apptest.ParseForm(t, page)
			require.NotContains(t, f.Fields, "id_token_hint", "the page carries the client the hint named, not the hint")
			return br.Post(f.Action, f.Fields)
		}
		// An expired hint, signed with our key: accepted (RP-Initiated Logout §2).
		_, fresh := signIn(t)
		freshTok, err := e.Server.Provider.Signer.Decode(ctx, fresh)
		require.NoError(t, err)
		claims := jwt.MapClaims{}
		for k, v := range freshTok.Claims {
			claims[k] = v
		}
		claims["exp"] = time.Now().Add(-time.Hour).Unix()
		claims["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		expired, _, err := e.Server.Provider.Signer.Generate(ctx, claims, &jwt.Headers{})
		require.NoError(t, err)
		// A hint with a payload we did not sign.
		parts := strings.Split(fresh, ".")
		forgedClaims := map[string]any{"iss": e.Server.URL, "aud": []string{other.Client.ID}, "sub": e.User.ID}
		raw, err := json.Marshal(forgedClaims)
		require.NoError(t, err)
		forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]

		redirects := []struct {
			name string
			q    func(hint string) url.Values
			want string
		}{
			{"client_id and an exact URI", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {bye}, "client_id": {cc.Client.ID}, "state": {"s1"}}
			}, bye + "?state=s1"},
			{"id_token_hint alone", func(h string) url.Values {
				return url.Values{"post_logout_redirect_uri": {bye}, "id_token_hint": {h}, "state": {"s2"}}
			}, bye + "?state=s2"},
			{"id_token_hint and the same client_id", func(h string) url.Values {
				return url.Values{"post_logout_redirect_uri": {"https://client.example/bye?lang=en"}, "id_token_hint": {h}, "client_id": {cc.Client.ID}}
			}, "https://client.example/bye?lang=en"},
			{"expired id_token_hint", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {bye}, "id_token_hint": {expired}}
			}, bye},
		}
		for _, tt := range redirects {
			t.Run(tt.name, func(t *testing.T) {
				br, hint := signIn(t)
				res := logout(t, br, tt.q(hint))
				require.Equal(t, http.StatusSeeOther, res.Status, "%s", res.Body)
				require.Equal(t, tt.want, res.Header.Get("Location"))
				require.Empty(t, br.Cookie("identity_session"), "signed out")
			})
		}

		pages := []struct {
			name string
			q    func(hint string) url.Values
		}{
			{"no client", func(string) url.Values { return url.Values{"post_logout_redirect_uri": {bye}} }},
			{"allowed origin, no client", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {"https://app.example.com/bye"}}
			}},
			{"origin of a redirect URI, not registered for logout", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {apptest.RedirectURI}, "client_id": {cc.Client.ID}}
			}},
			{"a longer path", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {bye + "/more"}, "client_id": {cc.Client.ID}}
			}},
			{"another query", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {bye + "?x=1"}, "client_id": {cc.Client.ID}}
			}},
			{"another client's URI", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {"https://other.example/bye"}, "client_id": {cc.Client.ID}}
			}},
			{"unknown client", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {bye}, "client_id": {"nope"}}
			}},
			{"hint and client_id disagree", func(h string) url.Values {
				return url.Values{"post_logout_redirect_uri": {"https://other.example/bye"}, "id_token_hint": {h}, "client_id": {other.Client.ID}}
			}},
			{"forged hint", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {"https://other.example/bye"}, "id_token_hint": {forged}}
			}},
			{"garbage hint", func(string) url.Values {
				return url.Values{"post_logout_redirect_uri": {bye}, "id_token_hint": {"not.a.jwt"}}
			}},
		}
		for _, tt := range pages {
			t.Run(tt.name, func(t *testing.T) {
				br, hint := signIn(t)
				res := logout(t, br, tt.q(hint))
				require.Equal(t, http.StatusOK, res.Status)
				require.Empty(t, res.Header.Get("Location"))
				require.Contains(t, string(res.Body), "You are signed out.")
				require.Empty(t, br.Cookie("identity_session"), "signed out all the same")
			})
		}

		t.Run("no session: the signed-out page, no redirect", func(t *testing.T) {
			q := url.Values{"post_logout_redirect_uri": {bye}, "client_id": {cc.Client.ID}, "state": {"z"}}
			res := rawGet(t, e.Server.URL+"/logout?"+q.Encode())
			require.Equal(t, http.StatusOK, res.Status)
			require.Empty(t, res.Header.Get("Location"))
			require.Contains(t, string(res.Body), "You are signed out.")
		})
	})
}

// refreshScope posts a refresh_token grant with a scope parameter.
func refreshScope(t *testing.T, srv *apptest.Server, cc *apptest.CreatedClient, refreshToken, scope string) *apptest.Result {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return srv.TokenRequest(t, cc, form)
}

// TestE2ERefreshScope: a refresh with a narrower scope issues an access token
// (and an ID token only while openid stays) with just that scope; a scope
// outside the grant is invalid_scope and leaves the refresh token usable;
// the rotated refresh token keeps the original grant (RFC 6749 §6), so a
// later refresh can ask for all of it again.
func TestE2ERefreshScope(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		rs := e.ServiceClient(t, nil)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
		tok, _ := loggedInGrant(t, e, e.Server.NewBrowser(t), cfg)
		const full = "openid email offline_access"
		rt := tok.RefreshToken

		// Outside the grant: profile is the client's but was not granted;
		// admin is nobody's. Either way invalid_scope, and nothing rotates.
		for _, scope := range []string{"profile", "email admin", "openid profile"} {
			apptest.RequireOAuthError(t, refreshScope(t, e.Server, web, rt, scope), http.StatusBadRequest, "invalid_scope")
		}
		e.Server.RequireActive(t, rs, rt)
		e.Server.RequireActive(t, rs, tok.AccessToken)

		steps := []struct {
			scope     string
			wantScope string
			wantID    bool
		}{
			{"email", "email", false},
			{"", full, true}, // the whole grant again
			{"email openid", "openid email", true},
			{"offline_access", "offline_access", false},
			{"email email", "email", false},
		}
		for _, st := range steps {
			res := refreshScope(t, e.Server, web, rt, st.scope)
			ts := requireTokens(t, res)
			m := res.JSON(t)
			require.Equal(t, st.wantScope, m["scope"], "scope %q: response scope", st.scope)
			if st.wantID {
				require.NotEmpty(t, ts.ID, "scope %q: an ID token while openid stays", st.scope)
			} else {
				require.Empty(t, ts.ID, "scope %q: no ID token without openid", st.scope)
			}
			require.Equal(t, st.wantScope, e.Server.RequireActive(t, rs, ts.Access)["scope"], "scope %q: the access token's scope", st.scope)
			require.Equal(t, full, e.Server.RequireActive(t, rs, ts.Refresh)["scope"], "scope %q: the refresh token keeps the grant", st.scope)
			e.Server.RequireInactive(t, rs, rt)
			rt = ts.Refresh
		}

		// Userinfo follows the access token's scope: email only when granted.
		narrow := requireTokens(t, refreshScope(t, e.Server, web, rt, "openid"))
		res := e.Server.Call(t, http.MethodGet, "/api/oauth/userinfo", narrow.Access, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.NotContains(t, res.JSON(t), "email")

		// Reuse detection is untouched: the rotated token presented again
		// revokes the grant.
		apptest.RequireOAuthError(t, refreshScope(t, e.Server, web, rt, "email"), http.StatusBadRequest, "invalid_grant")
		e.Server.RequireInactive(t, rs, narrow.Access)
		e.Server.RequireInactive(t, rs, narrow.Refresh)
	})
}

// TestE2EClientAuthChallenge: every 401 of the token, revocation and
// introspection endpoints carries WWW-Authenticate (RFC 6749 §5.2, RFC 9110
// §11.6.1), and a token or revocation request with no client authentication
// at all is invalid_client.
func TestE2EClientAuthChallenge(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		svc := e.ServiceClient(t, nil)
		tok := requireTokens(t, e.Server.TokenRequest(t, svc, url.Values{"grant_type": {"client_credentials"}}))
		cc := url.Values{"grant_type": {"client_credentials"}}
		withPost := func(v url.Values, id, secret string) url.Values {
			out := url.Values{}
			for k, vv := range v {
				out[k] = vv
			}
			out.Set("client_id", id)
			out.Set("client_secret", secret)
			return out
		}
		bearer := func(path, token string) *apptest.Result {
			req, err := http.NewRequest(http.MethodPost, e.Server.URL+path, strings.NewReader(url.Values{"token": {tok.Access}}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			return apptest.ReadResult(t, resp)
		}
		tests := []struct {
			name      string
			do        func() *apptest.Result
			code      string
			challenge string
		}{
			{"token: wrong Basic secret", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/token", cc, svc.Client.ID, "wrong-secret-wrong-secret")
			}, "invalid_client", "Basic "},
			{"token: wrong posted secret", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/token", withPost(cc, svc.Client.ID, "wrong-secret-wrong-secret"), "", "")
			}, "invalid_client", "Basic "},
			{"token: unknown client", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/token", cc, "no-such-client", "whatever-secret-000")
			}, "invalid_client", "Basic "},
			{"token: no client authentication", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/token", cc, "", "")
			}, "invalid_client", "Basic "},
			{"token: a confidential client without its secret", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {svc.Client.ID}}, "", "")
			}, "invalid_client", "Basic "},
			{"revoke: wrong Basic secret", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/revoke", url.Values{"token": {tok.Access}}, svc.Client.ID, "wrong-secret-wrong-secret")
			}, "invalid_client", "Basic "},
			{"revoke: no client authentication", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/revoke", url.Values{"token": {tok.Access}}, "", "")
			}, "invalid_client", "Basic "},
			{"introspect: wrong Basic secret", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/introspect", url.Values{"token": {tok.Access}}, svc.Client.ID, "wrong-secret-wrong-secret")
			}, "request_unauthorized", "Basic "},
			{"introspect: no authentication", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/introspect", url.Values{"token": {tok.Access}}, "", "")
			}, "request_unauthorized", "Basic "},
			{"introspect: bad bearer token", func() *apptest.Result {
				return bearer("/api/oauth/introspect", "idt_at_not.a-token")
			}, "request_unauthorized", "Bearer "},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := tt.do()
				apptest.RequireOAuthError(t, res, http.StatusUnauthorized, tt.code)
				ch := res.Header.Get("WWW-Authenticate")
				require.True(t, strings.HasPrefix(ch, tt.challenge), "WWW-Authenticate %q", ch)
				require.Contains(t, ch, `realm="identity"`)
			})
		}
		e.Server.RequireActive(t, svc, tok.Access) // none of that revoked it
		// Two methods at once is a malformed request (RFC 6749 §2.3).
		res := apptest.PostForm(t, e.Server.URL+"/api/oauth/token", withPost(cc, svc.Client.ID, svc.Secret), svc.Client.ID, svc.Secret)
		apptest.RequireOAuthError(t, res, http.StatusBadRequest, "invalid_request")
	})
}

// TestE2EClientAuthBothMethods: a confidential client created without a
// method — the README's quickstart command — accepts HTTP Basic and the form
// post (the seeds' documented call: client_id and client_secret in the body,
// scope=service); a client restricted to one method (CLI flag or admin API,
// at creation or later) accepts only that one.
func TestE2EClientAuthBothMethods(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		// The fields `identityd clients create --tenant acme --id billing
		// --secret ... --grant-types client_credentials --scopes service` sets.
		billing := e.Client(t, apptest.NewClient{ID: "billing-" + apptest.RandomID(t, 6), Secret: "billing-secret-123456",
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"service"}})
		require.Equal(t, []string{"client_secret_basic", "client_secret_post"}, []string(billing.Client.TokenEndpointAuthMethods))

		// The seeds' documented call, byte for byte the form post.
		res := apptest.PostForm(t, e.Server.URL+"/api/oauth/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {billing.Client.ID}, "client_secret": {billing.Secret}, "scope": {"service"}}, "", "")
		ts := requireTokens(t, res)
		require.Equal(t, "service", res.JSON(t)["scope"])
		e.Server.RequireActive(t, billing, ts.Access)
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
			tok, err := e.Server.ClientCredentialsConfig(billing.Client.ID, billing.Secret, style, "service").Token(ctx)
			require.NoError(t, err, "auth style %d", style)
			e.Server.RequireActive(t, billing, tok.AccessToken)
		}

		// Restricted through the admin API: created with one method, then
		// switched to the other with PATCH.
		m := withClientsAdmin(t, e)
		res = e.Server.Call(t, http.MethodPost, "/api/clients", m.token, map[string]any{
			"name": "post-only", "grant_types": []string{"client_credentials"}, "scopes": []string{"service"},
			"token_endpoint_auth_method": "client_secret_post",
		}).NotServerError(t)

		created := requireAnswer(t, res, http.StatusCreated, "")
		require.Equal(t, []any{"client_secret_post"}, created["token_endpoint_auth_methods"])
		id, secret := created["client_id"].(string), created["client_secret"].(string)
		expect := func(style oauth2.AuthStyle, ok bool) {
			t.Helper()
			_, err := e.Server.ClientCredentialsConfig(id, secret, style).Token(ctx)
			if ok {
				require.NoError(t, err, "auth style %d", style)
				return
			}
			re := apptest.RetrieveError(t, err)
			require.Equal(t, "invalid_client", re.ErrorCode, "auth style %d", style)
			require.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
			require.NotEmpty(t, re.Response.Header.Get("WWW-Authenticate"))
		}
		expect(oauth2.AuthStyleInParams, true)
		expect(oauth2.AuthStyleInHeader, false)

		res = e.Server.Call(t, http.MethodPatch, "/api/clients/"+id, m.token, map[string]any{"token_endpoint_auth_methods": []string{"client_secret_basic"}}).NotServerError(t)
		patched := requireAnswer(t, res, http.StatusOK, "")
		require.Equal(t, "client_secret_basic", patched["token_endpoint_auth_method"])
		require.Equal(t, []any{"client_secret_basic"}, patched["token_endpoint_auth_methods"])
		expect(oauth2.AuthStyleInParams, false)
		expect(oauth2.AuthStyleInHeader, true)

		res = e.Server.Call(t, http.MethodPatch, "/api/clients/"+id, m.token, map[string]any{"token_endpoint_auth_methods": []string{"client_secret_basic", "client_secret_post"}}).NotServerError(t)
		requireAnswer(t, res, http.StatusOK, "")
		expect(oauth2.AuthStyleInParams, true)
		expect(oauth2.AuthStyleInHeader, true)

		res = e.Server.Call(t, http.MethodPatch, "/api/clients/"+id, m.token, map[string]any{"token_endpoint_auth_methods": []string{"none"}}).NotServerError(t)
		requireAnswer(t, res, http.StatusUnprocessableEntity, "validation_failed")
		res = e.Server.Call(t, http.MethodPatch, "/api/clients/"+id, m.token, map[string]any{"token_endpoint_auth_methods": []string{"private_key_jwt"}}).NotServerError(t)
		requireAnswer(t, res, http.StatusUnprocessableEntity, "validation_failed")
	})
}

// jwtClaims decodes a JWT's payload (its signature is checked elsewhere).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// TestE2EJWTAccessTokenAudience: a JWT access token carries the audience
// registered on the client when the request names none (and introspection
// agrees); a named audience wins; a client without one gets its own id.
func TestE2EJWTAccessTokenAudience(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		rs := e.ServiceClient(t, nil)
		withAud := e.ServiceClient(t, func(in *apptest.NewClient) {
			in.AccessTokenFormat = "jwt"
			in.Audience = []string{"https://api.example", "https://billing.example"}
		})
		noAud := e.ServiceClient(t, func(in *apptest.NewClient) { in.AccessTokenFormat = "jwt" })
		tests := []struct {
			name string
			cc   *apptest.CreatedClient
			aud  string // requested
			want []any
		}{
			{"registered audience by default", withAud, "", []any{"https://api.example", "https://billing.example"}},
			{"a named audience", withAud, "https://billing.example", []any{"https://billing.example"}},
			{"no registered audience", noAud, "", []any{noAud.Client.ID}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg := e.Server.ClientCredentialsConfig(tt.cc.Client.ID, tt.cc.Secret, oauth2.AuthStyleInHeader)
				if tt.aud != "" {
					cfg.EndpointParams = url.Values{"audience": {tt.aud}}
				}
				tok, err := cfg.Token(ctx)
				require.NoError(t, err)
				claims := jwtClaims(t, tok.AccessToken)
				require.Equal(t, tt.want, claims["aud"])
				m := e.Server.RequireActive(t, rs, tok.AccessToken)
				if tt.cc == withAud {
					require.Equal(t, tt.want, m["aud"], "introspection names the same audience")
				}
			})
		}
		// The authorization-code flow grants the registered audience too.
		web := e.WebClient(t, func(in *apptest.NewClient) {
			in.SkipConsent = true
			in.AccessTokenFormat = "jwt"
			in.Audience = []string{"https://api.example"}
		})
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		tok, _ := loggedInGrant(t, e, e.Server.NewBrowser(t), cfg)
		require.Equal(t, []any{"https://api.example"}, jwtClaims(t, tok.AccessToken)["aud"])
		r := requireTokens(t, refreshRequest(t, e.Server, web, tok.RefreshToken))
		require.Equal(t, []any{"https://api.example"}, jwtClaims(t, r.Access)["aud"], "and keeps it on refresh")
	})
}

// TestE2EIntrospectionTokenType: introspecting a refresh token says so
// (token_type refresh_token) and gives the refresh token's own exp; an
// access token is token_type Bearer with the access token's exp.
func TestE2EIntrospectionTokenType(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		rs := e.ServiceClient(t, nil)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		tok, _ := loggedInGrant(t, e, e.Server.NewBrowser(t), cfg)
		now := time.Now().Unix()
		cfgTTL := e.Server.Config

		at := e.Server.RequireActive(t, rs, tok.AccessToken)
		require.Equal(t, "Bearer", at["token_type"])
		require.Equal(t, "access_token", at["token_use"])
		require.InDelta(t, now+int64(cfgTTL.AccessTokenTTL.Seconds()), at["exp"], 30)

		rt := e.Server.RequireActive(t, rs, tok.RefreshToken)
		require.Equal(t, "refresh_token", rt["token_type"])
		require.Equal(t, "refresh_token", rt["token_use"])
		require.InDelta(t, now+int64(cfgTTL.RefreshTokenTTL.Seconds()), rt["exp"], 30, "the refresh token's exp, not the access token's")
		require.Equal(t, e.User.ID, rt["sub"])
		require.Equal(t, e.Tenant.ID, rt["tenant_id"])

		// A token type hint does not change the answer.
		res := apptest.PostForm(t, e.Server.URL+"/api/oauth/introspect", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"access_token"}}, rs.Client.ID, rs.Secret)
		require.Equal(t, "refresh_token", res.JSON(t)["token_type"])
	})
}

// TestE2EIntrospectionTenantScope: a tenant's client (HTTP Basic or bearer)
// sees only its own tenant's tokens — another tenant's are {"active":false},
// also when the lookup cache already holds them; a client registered with
// introspect_all_tenants (CLI or a system admin through the API; a tenant
// admin may not) sees every tenant. Revocation still refuses another
// tenant's token.
func TestE2EIntrospectionTenantScope(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil) // tenant A, with a system admin and an Owner
		srv := env.Server
		require.Positive(t, srv.Config.LookupCacheSize, "the lookup cache is on")
		a := env.Env
		bEnv := apptest.Seed(t, srv) // tenant B
		aSvc := a.ServiceClient(t, nil)
		bSvc := bEnv.ServiceClient(t, nil)
		web := a.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := srv.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		userTok, _ := loggedInGrant(t, a, srv.NewBrowser(t), cfg)
		aTok := requireTokens(t, srv.TokenRequest(t, aSvc, url.Values{"grant_type": {"client_credentials"}})).Access
		bTok := requireTokens(t, srv.TokenRequest(t, bSvc, url.Values{"grant_type": {"client_credentials"}})).Access
		allB := bEnv.ServiceClient(t, func(in *apptest.NewClient) { in.IntrospectAllTenants = true })

		bearerIntrospect := func(caller, token string) map[string]any {
			t.Helper()
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+caller)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res := apptest.ReadResult(t, resp)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			return res.JSON(t)
		}

		for _, tokn := range []string{aTok, userTok.AccessToken, userTok.RefreshToken} {
			m := srv.RequireActive(t, aSvc, tokn) // same tenant, and now cached
			require.Equal(t, a.Tenant.ID, m["tenant_id"])
			srv.RequireInactive(t, bSvc, tokn) // another tenant: as if unknown
			require.Equal(t, a.Tenant.ID, srv.RequireActive(t, allB, tokn)["tenant_id"], "the all-tenants client sees it")
			require.Equal(t, map[string]any{"active": false}, bearerIntrospect(bTok, tokn), "B's bearer token neither")
			if tokn != aTok { // a token cannot introspect itself
				require.Equal(t, true, bearerIntrospect(aTok, tokn)["active"], "A's bearer token does")
			}
		}
		srv.RequireActive(t, bSvc, bTok)
		srv.RequireInactive(t, aSvc, bTok)
		// A client-credentials token of the all-tenants client counts as that client.
		allTok := requireTokens(t, srv.TokenRequest(t, allB, url.Values{"grant_type": {"client_credentials"}})).Access
		require.Equal(t, a.Tenant.ID, bearerIntrospect(allTok, aTok)["tenant_id"])

		// Revocation by another tenant's client does nothing (200, RFC 7009 §2.1).
		srv.Revoke(t, bSvc, aTok)
		srv.RequireActive(t, aSvc, aTok)

		// The setting: a tenant Owner may not set it, a system admin may.
		// tenantAdmin holds every client permission (danger ones too, stepped up).
		tenantAdmin := withClientsAdmin(t, a).token
		srv.StepUp(t, tenantAdmin, apptest.Password)
		notSystemAdmin := func(res *apptest.Result) {
			t.Helper()
			m := requireAPIError(t, res, http.StatusForbidden, "forbidden")
			require.Nil(t, m["required_permission"], "refused for the setting, not for a permission: %s", res.Body)
			require.Contains(t, m["message"], "system admin")
		}
		body := map[string]any{"name": "rs", "grant_types": []string{"client_credentials"}, "scopes": []string{"x"}, "introspect_all_tenants": true}
		notSystemAdmin(srv.Call(t, http.MethodPost, "/api/clients", tenantAdmin, body))
		res := srv.Call(t, http.MethodPost, "/api/clients", env.adminToken, body)
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		created := res.JSON(t)
		require.Equal(t, true, created["introspect_all_tenants"])
		sys := &apptest.CreatedClient{Client: aSvc.Client, Secret: created["client_secret"].(string)}
		c := *aSvc.Client
		c.ID = created["client_id"].(string)
		sys.Client = &c
		require.Equal(t, bEnv.Tenant.ID, srv.RequireActive(t, sys, bTok)["tenant_id"])
		id := created["client_id"].(string)
		notSystemAdmin(srv.Call(t, http.MethodPatch, "/api/clients/"+id, tenantAdmin, map[string]any{"introspect_all_tenants": false}))
		// Nor may a tenant administrator change it otherwise, or take its secret.
		notSystemAdmin(srv.Call(t, http.MethodPatch, "/api/clients/"+id, tenantAdmin, map[string]any{"name": "mine now"}))
		notSystemAdmin(srv.Call(t, http.MethodPost, "/api/clients/"+id+"/rotate-secret", tenantAdmin, nil))
		// ...while its other clients stay theirs to manage.
		res = srv.Call(t, http.MethodPost, "/api/clients/"+aSvc.Client.ID+"/rotate-secret", tenantAdmin, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		res = srv.Call(t, http.MethodPatch, "/api/clients/"+id, env.adminToken, map[string]any{"introspect_all_tenants": false})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		srv.RequireInactive(t, sys, bTok)
	})
}
