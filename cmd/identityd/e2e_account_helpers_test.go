package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/html"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage/storagetest"
)

// User agents the account tests send; the device list must parse them.
const (
	accChromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	accFirefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
)

// accMailer is an in-test identity.Mailer that keeps every message.
type accMailer struct {
	mu   sync.Mutex
	msgs []identity.Message
}

func (m *accMailer) Send(_ context.Context, msg identity.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// sent returns the messages sent to addr so far.
func (m *accMailer) sent(addr string) []identity.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []identity.Message
	for _, msg := range m.msgs {
		if strings.EqualFold(msg.To, addr) {
			out = append(out, msg)
		}
	}
	return out
}

var accSixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode returns the 6-digit code of the newest message to addr and how
// many messages addr has received.
func (m *accMailer) lastCode(t *testing.T, addr string) (string, int) {
	t.Helper()
	msgs := m.sent(addr)
	require.NotEmpty(t, msgs, "no e-mail to %s", addr)
	match := accSixDigits.FindStringSubmatch(msgs[len(msgs)-1].Text)
	require.NotNil(t, match, "no 6-digit code in %q", msgs[len(msgs)-1].Text)
	return match[1], len(msgs)
}

// accEnv is a running server with a tenant, a confidential client to
// introspect with, and a mailer that captures e-mail.
type accEnv struct {
	*e2eEnv
	rs   *identity.CreatedClient
	mail *accMailer
}

// accNew starts a server on b for the account tests. bcrypt runs at its
// minimum cost: under the race detector cost 10 takes about a second per
// hash on a small machine, and these tests hash hundreds of times. mutate
// may change more of the configuration.
func accNew(t *testing.T, b storagetest.Backend, redisURL string, mutate func(*Config)) *accEnv {
	t.Helper()
	e := newE2E(t, b, redisURL, func(c *Config) {
		c.BcryptCost = bcrypt.MinCost
		if mutate != nil {
			mutate(c)
		}
	})
	m := &accMailer{}
	e.srv.AccountMail.Use(m)
	return &accEnv{e2eEnv: e, rs: e.serviceClient(t, nil), mail: m}
}

// accEachBackend runs fn on every backend with a fresh server each.
func accEachBackend(t *testing.T, mutate func(*Config), fn func(t *testing.T, e *accEnv)) {
	t.Helper()
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		fn(t, accNew(t, b, redisURL, mutate))
	})
}

// user creates another user of the env's tenant with e2ePassword.
func (e *accEnv) newUser(t *testing.T) *models.User {
	t.Helper()
	email := "u" + randomID(t, 8) + "@example.com"
	u, err := e.srv.Admin.CreateUser(context.Background(), identitytest.NewUser{
		TenantSlug: e.tenant.Slug, Email: email, Password: e2ePassword, Name: "Test User",
	})
	require.NoError(t, err, "create user")
	return u
}

// accReq is one JSON API request.
type accReq struct {
	Method string
	Path   string
	Token  string
	Body   any    // marshalled to JSON unless it is a string (sent raw)
	Device string // X-Device-Token
	UA     string // User-Agent; accChromeUA when empty
}

// do sends r to the env's server.
func (e *accEnv) do(t *testing.T, r accReq) *httpResult {
	t.Helper()
	return accDo(t, e.srv, r)
}

func accDo(t *testing.T, srv *testServer, r accReq) *httpResult {
	t.Helper()
	var body io.Reader
	switch v := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		body = bytes.NewReader(raw)
	}
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	req, err := http.NewRequest(r.Method, srv.URL+r.Path, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.Device != "" {
		req.Header.Set("X-Device-Token", r.Device)
	}
	ua := r.UA
	if ua == "" {
		ua = accChromeUA
	}
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return readResult(t, resp)
}

// accErr asserts a JSON API error with status and code, in the API's shape,
// and returns the decoded body.
func accErr(t *testing.T, res *httpResult, status int, code string) map[string]any {
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

// accFields returns the sorted field names of a 422 body.
func accFields(t *testing.T, m map[string]any) []string {
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

// accLogin is a password login's outcome.
type accLogin struct {
	Body      map[string]any
	Token     string
	Device    string
	SessionID string
	Challenge string
}

// login posts /api/auth/login for u with password and requires 200.
func (e *accEnv) login(t *testing.T, u *models.User, password string, mod func(*accReq, map[string]any)) accLogin {
	t.Helper()
	body := map[string]any{"tenant": e.tenant.Slug, "email": u.Email, "password": password}
	r := accReq{Path: "/api/auth/login", Body: body}
	if mod != nil {
		mod(&r, body)
	}
	res := e.do(t, r)
	if res.Status >= 500 {
		t.Logf("server errors: %s", accErrorLogs(e.srv))
	}
	require.Equal(t, http.StatusOK, res.Status, "login: %s", res.Body)
	return accParseLogin(t, res)
}

func accParseLogin(t *testing.T, res *httpResult) accLogin {
	t.Helper()
	m := res.JSON(t)
	l := accLogin{Body: m}
	l.Token, _ = m["access_token"].(string)
	l.Device, _ = m["device_token"].(string)
	l.SessionID, _ = m["session_id"].(string)
	l.Challenge, _ = m["challenge"].(string)
	return l
}

// token logs u in with e2ePassword and returns the completed login.
func (e *accEnv) token(t *testing.T, u *models.User) accLogin {
	t.Helper()
	l := e.login(t, u, e2ePassword, nil)
	require.NotEmpty(t, l.Token, "login gave a token: %v", l.Body)
	return l
}

// challenge logs u in and requires a second-factor challenge.
func (e *accEnv) challenge(t *testing.T, u *models.User, device string) accLogin {
	t.Helper()
	l := e.login(t, u, e2ePassword, func(r *accReq, _ map[string]any) { r.Device = device })
	require.Equal(t, true, l.Body["two_factor_required"], "login asks for the second factor: %v", l.Body)
	require.NotEmpty(t, l.Challenge)
	require.NotContains(t, l.Body, "access_token")
	return l
}

// verify posts /api/auth/2fa/verify.
func (e *accEnv) verify(t *testing.T, body map[string]any) *httpResult {
	t.Helper()
	return e.do(t, accReq{Path: "/api/auth/2fa/verify", Body: body})
}

// active reports what introspection says of token.
func (e *accEnv) active(t *testing.T, token string) bool {
	t.Helper()
	m := introspect(t, e.srv, e.rs, token)
	a, _ := m["active"].(bool)
	return a
}

// me calls GET /api/auth/me and returns its status.
func (e *accEnv) me(t *testing.T, token string) int {
	t.Helper()
	return e.do(t, accReq{Method: http.MethodGet, Path: "/api/auth/me", Token: token}).Status
}

// requireLive asserts token works for the API and at introspection;
// requireDead that it works for neither.
func (e *accEnv) requireLive(t *testing.T, token string) {
	t.Helper()
	require.True(t, e.active(t, token), "token should be active")
	require.Equal(t, http.StatusOK, e.me(t, token), "token should work for /api/auth/me")
}

func (e *accEnv) requireDead(t *testing.T, token string) {
	t.Helper()
	require.False(t, e.active(t, token), "token should be inactive")
	require.Equal(t, http.StatusUnauthorized, e.me(t, token), "token should be refused by /api/auth/me")
}

// enableTOTP sets up and enables TOTP for the holder of token and returns
// the secret and the recovery codes. The enabling code is the previous
// step's (accepted with the ±1 skew), so the current step stays free.
func (e *accEnv) enableTOTP(t *testing.T, token string) (string, []string) {
	t.Helper()
	res := e.do(t, accReq{Path: "/api/auth/2fa/setup", Token: token, Body: map[string]any{"password": e2ePassword}})
	require.Equal(t, http.StatusOK, res.Status, "setup: %s", res.Body)
	secret, _ := res.JSON(t)["secret"].(string)
	require.NotEmpty(t, secret)
	res = e.do(t, accReq{Path: "/api/auth/2fa/enable", Token: token, Body: map[string]any{"code": accTOTP(t, secret, -1), "password": e2ePassword}})
	require.Equal(t, http.StatusOK, res.Status, "enable: %s", res.Body)
	return secret, accStrings(t, res.JSON(t)["recovery_codes"])
}

// accTOTP is the TOTP code of secret at the current step plus offset.
func accTOTP(t *testing.T, secret string, offset int) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, time.Now().Add(time.Duration(offset)*30*time.Second),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

// accWrongTOTP is a 6-digit code that is none of the codes the server
// accepts now (it tries the current step and one either side).
func accWrongTOTP(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for off := -2; off <= 2; off++ {
		valid[accTOTP(t, secret, off)] = true
	}
	for n := 100000; ; n++ {
		if c := fmt.Sprint(n); !valid[c] {
			return c
		}
	}
}

func accStrings(t *testing.T, v any) []string {
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
func (e *accEnv) devices(t *testing.T, token string) []map[string]any {
	t.Helper()
	return e.listOf(t, token, "/api/sessions", "sessions")
}

// deviceList lists GET /api/devices: one entry per device.
func (e *accEnv) deviceList(t *testing.T, token string) []map[string]any {
	t.Helper()
	return e.listOf(t, token, "/api/devices", "devices")
}

func (e *accEnv) listOf(t *testing.T, token, path, key string) []map[string]any {
	t.Helper()
	res := e.do(t, accReq{Method: http.MethodGet, Path: path, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s: %s", path, res.Body)
	list, ok := res.JSON(t)[key].([]any)
	require.True(t, ok, "%s: %s", path, res.Body)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// accFind returns the device entry of session id, or nil.
func accFind(list []map[string]any, sessionID string) map[string]any {
	for _, d := range list {
		if d["id"] == sessionID {
			return d
		}
	}
	return nil
}

// accRows reads every row of table as column → text (raw SQL, no mocks).
func accRows(t *testing.T, srv *testServer, table string) []map[string]string {
	t.Helper()
	db, err := srv.Store.SQLDB()
	require.NoError(t, err)
	rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+table)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []map[string]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := map[string]string{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case nil:
				row[c] = ""
			case []byte:
				row[c] = string(v)
			case time.Time:
				row[c] = v.UTC().Format(time.RFC3339Nano)
			default:
				row[c] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return out
}

// accPage is an HTML page with its POST forms by action path.
type accPage struct {
	*httpResult
	Forms map[string]url.Values
}

// accParsePage parses every POST form of page (text, hidden and password
// inputs with their values).
func accParsePage(t *testing.T, res *httpResult) *accPage {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(res.Body))
	require.NoError(t, err)
	p := &accPage{httpResult: res, Forms: map[string]url.Values{}}
	var walk func(n *html.Node, form url.Values)
	walk = func(n *html.Node, form url.Values) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				if strings.EqualFold(attr(n, "method"), "post") {
					form = url.Values{}
					p.Forms[attr(n, "action")] = form
				}
			case "input":
				typ := strings.ToLower(attr(n, "type"))
				if form != nil && attr(n, "name") != "" && typ != "checkbox" && typ != "submit" {
					form.Set(attr(n, "name"), attr(n, "value"))
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
func (p *accPage) submit(t *testing.T, br *browser, action string, set map[string]string) *accPage {
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
	return accParsePage(t, br.post(target.String(), vals))
}

// accErrorLogs returns the server's error log lines, for failure messages.
func accErrorLogs(srv *testServer) string {
	var out []string
	for _, line := range strings.Split(srv.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
