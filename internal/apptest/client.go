package apptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ChromeUA and FirefoxUA are user agents the device list must parse.
const (
	ChromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	FirefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
)

// Result is a response with its body read.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
	URL    *url.URL // the URL that answered (after same-origin redirects)
	Method string   // the request's method
}

// JSON decodes the body, failing the test when it is not a JSON object.
func (r *Result) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "decode JSON body %q", r.Body)
	return m
}

// Fields decodes a JSON object body, or returns nil when the body is not one
// (it never touches a test, so goroutines may call it).
func (r *Result) Fields() map[string]any {
	var m map[string]any
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(r.Body, &m) != nil {
		return nil
	}
	return m
}

// Str is the string member key of a JSON object body ("" when absent).
func (r *Result) Str(key string) string {
	s, _ := r.Fields()[key].(string)
	return s
}

// String is the status and the body, for failure messages.
func (r *Result) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// Location is the parsed Location header of a redirect, or nil.
func (r *Result) Location(t testing.TB) *url.URL {
	t.Helper()
	loc := r.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := r.URL.Parse(loc)
	require.NoError(t, err)
	return u
}

// NotServerError fails the test when the answer is a 5xx, and returns r.
func (r *Result) NotServerError(t testing.TB) *Result {
	t.Helper()
	require.Less(t, r.Status, 500, "%s %s answered %d: %s", r.Method, r.URL.Path, r.Status, r.Body)
	return r
}

// Request is one API request.
type Request struct {
	Method string // POST when empty
	Path   string
	Token  string // sent as a Bearer token when set
	Body   any    // none when nil; a string is sent as is, anything else as JSON
	Device string // X-Device-Token
	UA     string // User-Agent; ChromeUA when empty (a browser, as the device list expects)
	Header map[string]string
}

// Send sends r to the server at base. It never touches a test, so
// goroutines may call it.
func Send(base string, r Request) (*Result, error) {
	var body io.Reader = http.NoBody
	switch v := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(raw)
	}
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	req, err := http.NewRequest(r.Method, base+r.Path, body)
	if err != nil {
		return nil, err
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.Device != "" {
		req.Header.Set("X-Device-Token", r.Device)
	}
	if r.UA == "" {
		r.UA = ChromeUA
	}
	req.Header.Set("User-Agent", r.UA)
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	return read(resp)
}

func read(resp *http.Response) (*Result, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Result{Status: resp.StatusCode, Header: resp.Header, Body: body, URL: resp.Request.URL, Method: resp.Request.Method}, nil
}

// ReadResult reads resp's body into a Result.
func ReadResult(t testing.TB, resp *http.Response) *Result {
	t.Helper()
	res, err := read(resp)
	require.NoError(t, err)
	return res
}

// Do sends r to the server, failing the test on a transport error.
func (s *Server) Do(t testing.TB, r Request) *Result {
	t.Helper()
	res, err := Send(s.URL, r)
	require.NoError(t, err, "%s %s", r.Method, r.Path)
	return res
}

// Call sends a JSON API request: body nil sends none, a string is sent as
// is, anything else is encoded as JSON; token, when set, goes as Bearer.
func (s *Server) Call(t testing.TB, method, path, token string, body any) *Result {
	t.Helper()
	return s.Do(t, Request{Method: method, Path: path, Token: token, Body: body})
}

// PostForm posts a form to target, with HTTP Basic when basicUser is set.
func PostForm(t testing.TB, target string, form url.Values, basicUser, basicPass string) *Result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return ReadResult(t, resp)
}

// LoginRequest is the request of a password login (POST /api/auth/login)
// for tenant, email and password; mod may change it (headers, more body
// members) before it is sent.
func LoginRequest(tenant, email, password string, mod func(*Request, map[string]any)) Request {
	body := map[string]any{"tenant": tenant, "email": email, "password": password}
	r := Request{Method: http.MethodPost, Path: "/api/auth/login", Body: body}
	if mod != nil {
		mod(&r, body)
	}
	return r
}

// PasswordLogin posts a password login and returns the answer, whatever
// its status.
func (s *Server) PasswordLogin(t testing.TB, tenant, email, password string, mod func(*Request, map[string]any)) *Result {
	t.Helper()
	return s.Do(t, LoginRequest(tenant, email, password, mod))
}

// Login signs in with a password and returns the bearer token; the test
// fails unless the answer is 200 with an access token (no second factor).
func (s *Server) Login(t testing.TB, tenant, email, password string) string {
	t.Helper()
	res := s.PasswordLogin(t, tenant, email, password, nil)
	require.Equal(t, http.StatusOK, res.Status, "login: %s", res.Body)
	tok, _ := res.JSON(t)["access_token"].(string)
	require.NotEmpty(t, tok, "login gave no token: %s", res.Body)
	return tok
}

// StepUp elevates the session of token with password (POST
// /api/auth/step-up) and requires it to succeed.
func (s *Server) StepUp(t testing.TB, token, password string) {
	t.Helper()
	res := s.Call(t, http.MethodPost, "/api/auth/step-up", token, map[string]any{"password": password, "reason": "test"})
	require.Equal(t, http.StatusOK, res.Status, "step-up: %s", res.Body)
	require.Equal(t, true, res.JSON(t)["elevated"], "step-up: %s", res.Body)
}

// LoginAnswer is what a password login answered, decoded.
type LoginAnswer struct {
	Body      map[string]any
	Token     string // access_token
	Device    string // device_token
	SessionID string // session_id
	Challenge string // the second-factor challenge
}

// ParseLogin decodes the answer of a password login.
func ParseLogin(t testing.TB, res *Result) LoginAnswer {
	t.Helper()
	m := res.JSON(t)
	l := LoginAnswer{Body: m}
	l.Token, _ = m["access_token"].(string)
	l.Device, _ = m["device_token"].(string)
	l.SessionID, _ = m["session_id"].(string)
	l.Challenge, _ = m["challenge"].(string)
	return l
}
