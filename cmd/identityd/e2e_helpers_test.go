package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage/storagetest"
)

// e2ePassword is the password of every e2e test user.
const e2ePassword = "correct horse battery staple"

// e2eRedirectURI is the redirect URI of the e2e browser clients. Nothing
// listens there: the test browser stops at any redirect off the server.
const e2eRedirectURI = "https://client.example/callback"

// e2eEachBackend runs fn as a subtest on every configured database, with
// Redis when IDENTITY_TEST_REDIS_URL is set.
func e2eEachBackend(t *testing.T, fn func(t *testing.T, b storagetest.Backend, redisURL string)) {
	t.Helper()
	for _, b := range storagetest.Backends(t) {
		redisURL := storagetest.RedisURL(t)
		t.Run(b.Name, func(t *testing.T) { fn(t, b, redisURL) })
	}
}

// e2eEnv is a running server with one tenant and one user in it.
type e2eEnv struct {
	srv    *testServer
	tenant *models.Tenant
	user   *models.User
}

// newE2E starts a server on b and creates a tenant and a user through
// app.Admin, as the CLI does.
func newE2E(t *testing.T, b storagetest.Backend, redisURL string, mutate func(*Config)) *e2eEnv {
	t.Helper()
	srv := newTestServer(t, b, redisURL, mutate)
	return seedE2E(t, srv)
}

// seedE2E creates a tenant and a user on srv.
func seedE2E(t *testing.T, srv *testServer) *e2eEnv {
	t.Helper()
	ctx := context.Background()
	slug := "acme-" + strings.ToLower(randomID(t, 6))
	tenant, err := srv.Admin.CreateTenant(ctx, slug, "Acme "+slug)
	require.NoError(t, err, "create tenant")
	user, err := srv.Admin.CreateUser(ctx, identitytest.NewUser{
		TenantSlug: slug, Email: "ada." + slug + "@example.com", Password: e2ePassword, Name: "Ada Lovelace",
	})
	require.NoError(t, err, "create user")
	return &e2eEnv{srv: srv, tenant: tenant, user: user}
}

// randomID returns a fresh identifier fragment (lower-case letters and digits).
func randomID(t *testing.T, n int) string {
	t.Helper()
	require.LessOrEqual(t, n, 26)
	return strings.ToLower(rand.Text()[:n])
}

// client creates a client in the env's tenant.
func (e *e2eEnv) client(t *testing.T, in identity.NewClient) *identity.CreatedClient {
	t.Helper()
	in.TenantSlug = e.tenant.Slug
	if in.Name == "" {
		in.Name = "e2e client"
	}
	cc, err := e.srv.Admin.CreateClient(context.Background(), in)
	require.NoError(t, err, "create client")
	return cc
}

// serviceClient creates a confidential client_credentials client.
func (e *e2eEnv) serviceClient(t *testing.T, mod func(*identity.NewClient)) *identity.CreatedClient {
	t.Helper()
	in := identity.NewClient{GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read", "orders.write"}}
	if mod != nil {
		mod(&in)
	}
	return e.client(t, in)
}

// webClient creates a confidential authorization-code client with the OIDC
// scopes, refresh tokens and e2eRedirectURI.
func (e *e2eEnv) webClient(t *testing.T, mod func(*identity.NewClient)) *identity.CreatedClient {
	t.Helper()
	in := identity.NewClient{
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		Scopes:       []string{"openid", "offline_access", "email", "profile"},
		RedirectURIs: []string{e2eRedirectURI},
	}
	if mod != nil {
		mod(&in)
	}
	return e.client(t, in)
}

// oauthConfig is the golang.org/x/oauth2 configuration of a client of srv.
func oauthConfig(srv *testServer, cc *identity.CreatedClient, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if cc.Client.TokenEndpointAuthMethod != "client_secret_basic" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     cc.Client.ID,
		ClientSecret: cc.Secret,
		RedirectURL:  e2eRedirectURI,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   srv.URL + "/api/oauth/authorize",
			TokenURL:  srv.URL + "/api/oauth/token",
			AuthStyle: style,
		},
	}
}

// httpResult is a response with its body read.
type httpResult struct {
	Status int
	Header http.Header
	Body   []byte
	URL    *url.URL // the URL that answered (after same-origin redirects)
}

// JSON decodes the body.
func (r *httpResult) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "decode JSON body %q", r.Body)
	return m
}

// Location is the parsed Location header of a redirect, or nil.
func (r *httpResult) Location(t *testing.T) *url.URL {
	t.Helper()
	loc := r.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := r.URL.Parse(loc)
	require.NoError(t, err)
	return u
}

// apiCall sends a JSON API request: body nil sends none, a string is sent
// as is, anything else is encoded as JSON; token, when set, goes as Bearer.
func apiCall(t *testing.T, srv *testServer, method, path, token string, body any) *httpResult {
	t.Helper()
	var rd io.Reader = http.NoBody
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return readResult(t, resp)
}

func readResult(t *testing.T, resp *http.Response) *httpResult {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &httpResult{Status: resp.StatusCode, Header: resp.Header, Body: body, URL: resp.Request.URL}
}

// postForm posts a form to url, with HTTP Basic when user is not empty.
func postForm(t *testing.T, target string, form url.Values, basicUser, basicPass string) *httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return readResult(t, resp)
}

// introspect asks srv about token, authenticating as the client cc (Basic).
func introspect(t *testing.T, srv *testServer, cc *identity.CreatedClient, token string) map[string]any {
	t.Helper()
	res := postForm(t, srv.URL+"/api/oauth/introspect", url.Values{"token": {token}}, cc.Client.ID, cc.Secret)
	require.Equal(t, http.StatusOK, res.Status, "introspection: %s", res.Body)
	return res.JSON(t)
}

// requireActive asserts that introspection on srv says token is active and
// returns the response.
func requireActive(t *testing.T, srv *testServer, cc *identity.CreatedClient, token string) map[string]any {
	t.Helper()
	m := introspect(t, srv, cc, token)
	require.Equal(t, true, m["active"], "token should be active: %v", m)
	return m
}

// requireInactive asserts that introspection on srv answers exactly
// {"active":false}.
func requireInactive(t *testing.T, srv *testServer, cc *identity.CreatedClient, token string) {
	t.Helper()
	m := introspect(t, srv, cc, token)
	require.Equal(t, map[string]any{"active": false}, m, "token should be inactive")
}

// revoke revokes token at srv (RFC 7009), authenticating as cc.
func revoke(t *testing.T, srv *testServer, cc *identity.CreatedClient, token string) {
	t.Helper()
	form := url.Values{"token": {token}}
	var res *httpResult
	switch cc.Client.TokenEndpointAuthMethod {
	case "client_secret_basic":
		res = postForm(t, srv.URL+"/api/oauth/revoke", form, cc.Client.ID, cc.Secret)
	default:
		form.Set("client_id", cc.Client.ID)
		if cc.Secret != "" {
			form.Set("client_secret", cc.Secret)
		}
		res = postForm(t, srv.URL+"/api/oauth/revoke", form, "", "")
	}
	require.Equal(t, http.StatusOK, res.Status, "revoke: %s", res.Body)
}

// tokenRequest posts a raw token request (client_secret_basic when the client
// uses it, else form credentials) and returns the result.
func tokenRequest(t *testing.T, srv *testServer, cc *identity.CreatedClient, form url.Values) *httpResult {
	t.Helper()
	if cc.Client.TokenEndpointAuthMethod == "client_secret_basic" {
		return postForm(t, srv.URL+"/api/oauth/token", form, cc.Client.ID, cc.Secret)
	}
	form.Set("client_id", cc.Client.ID)
	if cc.Secret != "" {
		form.Set("client_secret", cc.Secret)
	}
	return postForm(t, srv.URL+"/api/oauth/token", form, "", "")
}

// requireOAuthError asserts an RFC 6749 §5.2 error answer.
func requireOAuthError(t *testing.T, res *httpResult, status int, code string) {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	require.Equal(t, code, res.JSON(t)["error"], "body: %s", res.Body)
}

// retrieveError unwraps a golang.org/x/oauth2 token error.
func retrieveError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	require.Error(t, err)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	return re
}

// browser is a user agent with a cookie jar that follows redirects within
// the server and stops at any redirect that leaves it (the client's
// redirect_uri, or anything else), so nothing off the server is ever fetched.
type browser struct {
	t      *testing.T
	srv    *testServer
	client *http.Client
	jar    *cookiejar.Jar
}

func newBrowser(t *testing.T, srv *testServer) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	origin, err := url.Parse(srv.URL)
	require.NoError(t, err)
	b := &browser{t: t, srv: srv, jar: jar}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != origin.Scheme || req.URL.Host != origin.Host {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

func (b *browser) get(target string) *httpResult {
	b.t.Helper()
	resp, err := b.client.Get(target)
	require.NoError(b.t, err)
	return readResult(b.t, resp)
}

func (b *browser) post(target string, form url.Values) *httpResult {
	b.t.Helper()
	resp, err := b.client.PostForm(target, form)
	require.NoError(b.t, err)
	return readResult(b.t, resp)
}

// cookie returns the value of the named cookie the browser holds for the server.
func (b *browser) cookie(name string) string {
	b.t.Helper()
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// htmlForm is the first POST form of a page.
type htmlForm struct {
	Action string
	Fields url.Values
	Hidden map[string]bool
}

// parseForm finds the first form with method post in page and its inputs.
func parseForm(t *testing.T, page *httpResult) *htmlForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(string(page.Body)))
	require.NoError(t, err)
	var form *htmlForm
	var walk func(n *html.Node, in *htmlForm)
	walk = func(n *html.Node, in *htmlForm) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				if form == nil && strings.EqualFold(attr(n, "method"), "post") {
					action, err := page.URL.Parse(attr(n, "action"))
					require.NoError(t, err)
					form = &htmlForm{Action: action.String(), Fields: url.Values{}, Hidden: map[string]bool{}}
					in = form
				}
			case "input":
				if in != nil && attr(n, "name") != "" {
					typ := strings.ToLower(attr(n, "type"))
					if typ != "checkbox" && typ != "radio" && typ != "submit" {
						in.Fields.Set(attr(n, "name"), attr(n, "value"))
						in.Hidden[attr(n, "name")] = typ == "hidden"
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(doc, nil)
	require.NotNil(t, form, "no POST form on page %s: %s", page.URL, page.Body)
	return form
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// loginAs fills and submits a login page.
func (b *browser) loginAs(page *httpResult, tenantSlug, email, password string) *httpResult {
	b.t.Helper()
	f := parseForm(b.t, page)
	require.NotEmpty(b.t, f.Fields.Get("csrf"), "login form has a csrf field")
	require.True(b.t, f.Hidden["csrf"], "csrf is hidden")
	require.NotEmpty(b.t, f.Fields.Get("return_to"), "login form carries the signed return_to")
	require.True(b.t, f.Hidden["return_to"], "return_to is hidden")
	for _, name := range []string{"tenant", "email", "password"} {
		require.Contains(b.t, f.Fields, name, "login form field %s", name)
	}
	if f.Fields.Get("tenant") == "" {
		f.Fields.Set("tenant", tenantSlug)
	}
	f.Fields.Set("email", email)
	f.Fields.Set("password", password)
	return b.post(f.Action, f.Fields)
}

// decide submits a consent page with decision allow or deny.
func (b *browser) decide(page *httpResult, decision string) *httpResult {
	b.t.Helper()
	f := parseForm(b.t, page)
	require.NotEmpty(b.t, f.Fields.Get("csrf"), "consent form has a csrf field")
	f.Fields.Set("decision", decision)
	return b.post(f.Action, f.Fields)
}

// isPage reports whether res is the server's page at path.
func (b *browser) isPage(res *httpResult, path string) bool {
	return res.Status == http.StatusOK && res.URL.Path == path && strings.HasPrefix(res.URL.String(), b.srv.URL)
}

// flow is what driving an authorization request through the pages gave.
type flow struct {
	// Callback is the redirect that left the server (to the client), or nil.
	Callback *url.URL
	// Last is the last response (the redirect itself when Callback is set).
	Last *httpResult
	// LoginPages and ConsentPages count the pages shown.
	LoginPages, ConsentPages int
}

// Code returns the code of a successful callback, checking the state.
func (f *flow) Code(t *testing.T, state string) string {
	t.Helper()
	require.NotNil(t, f.Callback, "authorization ended without a redirect to the client: %d %s", f.Last.Status, f.Last.Body)
	q := f.Callback.Query()
	require.Empty(t, q.Get("error"), "authorization error: %s: %s", q.Get("error"), q.Get("error_description"))
	require.Equal(t, state, q.Get("state"))
	require.NotEmpty(t, q.Get("code"))
	return q.Get("code")
}

// Error returns the error code of the callback.
func (f *flow) Error(t *testing.T) string {
	t.Helper()
	require.NotNil(t, f.Callback, "authorization ended without a redirect to the client: %d %s", f.Last.Status, f.Last.Body)
	require.Empty(t, f.Callback.Query().Get("code"), "no code with an error")
	return f.Callback.Query().Get("error")
}

// authorize opens authURL and drives the pages: it signs in as the env's
// user when a login page appears (when login is true; else it stops there)
// and answers a consent page with decision (stopping there when empty).
func (b *browser) authorize(e *e2eEnv, authURL string, login bool, decision string) *flow {
	b.t.Helper()
	f := &flow{}
	res := b.get(authURL)
	for i := 0; i < 6; i++ {
		f.Last = res
		if loc := res.Location(b.t); loc != nil && res.Status >= 300 && res.Status < 400 {
			require.Equal(b.t, e2eRedirectURI, loc.Scheme+"://"+loc.Host+loc.Path, "the only redirect off the server goes to the registered redirect_uri")
			f.Callback = loc
			return f
		}
		switch {
		case b.isPage(res, "/login"):
			f.LoginPages++
			if !login {
				return f
			}
			res = b.loginAs(res, e.tenant.Slug, e.user.Email, e2ePassword)
		case b.isPage(res, "/consent"):
			f.ConsentPages++
			if decision == "" {
				return f
			}
			res = b.decide(res, decision)
		default:
			return f
		}
	}
	b.t.Fatalf("authorization did not finish: %d %s %s", res.Status, res.URL, res.Body)
	return nil
}
