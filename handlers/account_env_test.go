package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// accountEnv is a running server with a tenant and a user (apptest.Env), a
// confidential client to introspect with, and the mailbox the account
// e-mails go to (nil when the test keeps the server's own mailer).
type accountEnv struct {
	*apptest.Env
	rs   *apptest.CreatedClient
	mail *apptest.Mailbox
}

// newAccountEnv starts a server on b for the account tests; mutate may
// change the configuration.
func newAccountEnv(t *testing.T, b apptest.Backend, mutate func(*app.Config)) *accountEnv {
	t.Helper()
	return accountOn(t, apptest.New(t, b, mutate))
}

// accountOn seeds a tenant, a user and an introspection client on a running
// server and captures its account e-mails.
func accountOn(t *testing.T, srv *apptest.Server) *accountEnv {
	t.Helper()
	m := srv.CaptureMail()
	e := apptest.Seed(t, srv)
	return &accountEnv{Env: e, rs: e.ServiceClient(t, nil), mail: m}
}

// eachAccountEnv runs fn on every backend with a fresh server each.
func eachAccountEnv(t *testing.T, mutate func(*app.Config), fn func(t *testing.T, e *accountEnv)) {
	t.Helper()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		fn(t, newAccountEnv(t, b, mutate))
	})
}

// newUser creates another user of the env's tenant with apptest.Password.
func (e *accountEnv) newUser(t *testing.T) *models.User {
	t.Helper()
	email := "u" + apptest.RandomID(t, 8) + "@example.com"
	u, err := e.Server.CreateUser(t, apptest.NewUser{
		TenantSlug: e.Tenant.Slug, Email: email, Password: apptest.Password, Name: "Test User",
	})
	require.NoError(t, err, "create user")
	return u
}

// requireErrorShape asserts a JSON API error with status and code, in the API's shape,
// and returns the decoded body.
func requireErrorShape(t *testing.T, res *apptest.Result, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	require.Equal(t, "application/json", strings.Split(res.Header.Get("Content-Type"), ";")[0], "content type of %s", res.Body)
	m := res.JSON(t)
	require.Equal(t, code, m["error"], "body: %s", res.Body)
	msg, _ := m["message"].(string)
	require.NotEmpty(t, msg, "an error has a message: %s", res.Body)
	for k := range m {
		require.Contains(t, []string{"error", "message", "fields", "required_permission"}, k, "unexpected key in error body %s", res.Body)
	}
	if status == http.StatusTooManyRequests {
		require.NotEmpty(t, res.Header.Get("Retry-After"), "429 carries Retry-After")
	}
	return m
}

// errorFields returns the sorted field names of a 422 body.
func errorFields(t *testing.T, m map[string]any) []string {
	t.Helper()
	f, ok := m["fields"].(map[string]any)
	require.True(t, ok, "a validation error has fields: %v", m)
	out := make([]string, 0, len(f))
	for k, v := range f {
		require.NotEmpty(t, v, "field %s has a message", k)
		out = append(out, k)
	}
	return out
}

// login posts /api/auth/login for u with password and requires 200.
func (e *accountEnv) login(t *testing.T, u *models.User, password string, mod func(*apptest.Request, map[string]any)) apptest.LoginAnswer {
	t.Helper()
	res := e.PasswordLogin(t, e.Tenant.Slug, u.Email, password, mod)
	if res.Status >= 500 {
		t.Logf("server errors: %s", e.Server.ErrorLogs())
	}
	require.Equal(t, http.StatusOK, res.Status, "login: %s", res.Body)
	return apptest.ParseLogin(t, res)
}

// token logs u in with apptest.Password and returns the completed login.
func (e *accountEnv) token(t *testing.T, u *models.User) apptest.LoginAnswer {
	t.Helper()
	l := e.login(t, u, apptest.Password, nil)
	require.NotEmpty(t, l.Token, "login gave a token: %v", l.Body)
	return l
}

// challenge logs u in and requires a second-factor challenge.
func (e *accountEnv) challenge(t *testing.T, u *models.User, device string) apptest.LoginAnswer {
	t.Helper()
	l := e.login(t, u, apptest.Password, func(r *apptest.Request, _ map[string]any) { r.Device = device })
	require.Equal(t, true, l.Body["two_factor_required"], "login asks for the second factor: %v", l.Body)
	require.NotEmpty(t, l.Challenge)
	require.NotContains(t, l.Body, "access_token")
	return l
}

// verify posts /api/auth/2fa/verify.
func (e *accountEnv) verify(t *testing.T, body map[string]any) *apptest.Result {
	t.Helper()
	return e.Do(t, apptest.Request{Path: "/api/auth/2fa/verify", Body: body})
}

// active reports what introspection says of token.
func (e *accountEnv) active(t *testing.T, token string) bool {
	t.Helper()
	m := e.Server.Introspect(t, e.rs, token)
	a, _ := m["active"].(bool)
	return a
}

// me calls GET /api/auth/me and returns its status.
func (e *accountEnv) me(t *testing.T, token string) int {
	t.Helper()
	return e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: token}).Status
}

// requireLive asserts token works for the API and at introspection;
// requireDead that it works for neither.
func (e *accountEnv) requireLive(t *testing.T, token string) {
	t.Helper()
	require.True(t, e.active(t, token), "token should be active")
	require.Equal(t, http.StatusOK, e.me(t, token), "token should work for /api/auth/me")
}

func (e *accountEnv) requireDead(t *testing.T, token string) {
	t.Helper()
	require.False(t, e.active(t, token), "token should be inactive")
	require.Equal(t, http.StatusUnauthorized, e.me(t, token), "token should be refused by /api/auth/me")
}

// enableTOTP sets up and enables TOTP for the holder of token and returns
// the secret and the recovery codes. The enabling code is the previous
// step's (accepted with the ±1 skew), so the current step stays free.
func (e *accountEnv) enableTOTP(t *testing.T, token string) (string, []string) {
	t.Helper()
	res := e.Do(t, apptest.Request{Path: "/api/auth/2fa/setup", Token: token, Body: map[string]any{"password": apptest.Password}})
	require.Equal(t, http.StatusOK, res.Status, "setup: %s", res.Body)
	secret, _ := res.JSON(t)["secret"].(string)
	require.NotEmpty(t, secret)
	res = e.Do(t, apptest.Request{Path: "/api/auth/2fa/enable", Token: token, Body: map[string]any{"code": apptest.TOTP(t, secret, -1), "password": apptest.Password}})
	require.Equal(t, http.StatusOK, res.Status, "enable: %s", res.Body)
	codes := stringList(t, res.JSON(t)["recovery_codes"])
	require.Len(t, codes, 8, "2fa enable returns eight recovery codes: %s", res.Body)
	return secret, codes
}

func stringList(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	require.True(t, ok, "want a list, got %v", v)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		require.True(t, ok)
		out = append(out, s)
	}
	return out
}

// devices lists the sessions of token's user (GET /api/sessions; before
// issue 8 GET /api/devices listed sessions): each entry carries its
// device_id. deviceList lists the devices themselves.
func (e *accountEnv) devices(t *testing.T, token string) []map[string]any {
	t.Helper()
	return e.listOf(t, token, "/api/sessions", "sessions")
}

// deviceList lists GET /api/devices: one entry per device.
func (e *accountEnv) deviceList(t *testing.T, token string) []map[string]any {
	t.Helper()
	return e.listOf(t, token, "/api/devices", "devices")
}

func (e *accountEnv) listOf(t *testing.T, token, path, key string) []map[string]any {
	t.Helper()
	res := e.Do(t, apptest.Request{Method: http.MethodGet, Path: path, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s: %s", path, res.Body)
	list, ok := res.JSON(t)[key].([]any)
	require.True(t, ok, "%s: %s", path, res.Body)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// findSession returns the device entry of session id, or nil.
func findSession(list []map[string]any, sessionID string) map[string]any {
	for _, d := range list {
		if d["id"] == sessionID {
			return d
		}
	}
	return nil
}

// htmlPage is an HTML page with its POST forms by action path.
type htmlPage struct {
	*apptest.Result
	Forms map[string]url.Values
}

// parsePage parses every POST form of page (text, hidden and password
// inputs with their values).
func parsePage(t *testing.T, res *apptest.Result) *htmlPage {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(res.Body))
	require.NoError(t, err)
	p := &htmlPage{Result: res, Forms: map[string]url.Values{}}
	var walk func(n *html.Node, form url.Values)
	walk = func(n *html.Node, form url.Values) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				if strings.EqualFold(apptest.Attr(n, "method"), "post") {
					form = url.Values{}
					p.Forms[apptest.Attr(n, "action")] = form
				}
			case "input":
				typ := strings.ToLower(apptest.Attr(n, "type"))
				if form != nil && apptest.Attr(n, "name") != "" && typ != "checkbox" && typ != "submit" {
					form.Set(apptest.Attr(n, "name"), apptest.Attr(n, "value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form)
		}
	}
	walk(doc, nil)
	return p
}

// submit posts the page's form with action, the given fields set; the form
// must exist and carry a csrf token.
func (p *htmlPage) submit(t *testing.T, br *apptest.Browser, action string, set map[string]string) *htmlPage {
	t.Helper()
	f, ok := p.Forms[action]
	require.True(t, ok, "no form %s on %s: %s", action, p.URL, p.Body)
	require.NotEmpty(t, f.Get("csrf"), "form %s carries a csrf token", action)
	vals := url.Values{}
	for k, v := range f {
		vals[k] = append([]string(nil), v...)
	}
	for k, v := range set {
		vals.Set(k, v)
	}
	target, err := p.URL.Parse(action)
	require.NoError(t, err)
	return parsePage(t, br.Post(target.String(), vals))
}
