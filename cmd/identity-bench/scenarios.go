package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

func scenarioFor(o *Options, hc *http.Client) (newWorker, error) {
	if o.Scenario == "mix" {
		return mixScenario(o, hc)
	}
	return scenarioByName(o.Scenario, o, hc)
}

func scenarioByName(name string, o *Options, hc *http.Client) (newWorker, error) {
	switch name {
	case "client-credentials":
		return func(context.Context, int) (worker, error) { return &ccWorker{o: o, hc: hc}, nil }, nil
	case "introspect":
		token := o.Token
		if token == "" {
			t, err := (&ccWorker{o: o, hc: hc}).token(context.Background())
			if err != nil {
				return nil, fmt.Errorf("fetch a token to introspect: %w", err)
			}
			token = t
		}
		body := url.Values{"token": {token}}.Encode()
		return func(context.Context, int) (worker, error) { return &introspectWorker{o: o, hc: hc, body: body}, nil }, nil
	case "introspect-fresh":
		return func(context.Context, int) (worker, error) {
			return &freshIntrospectWorker{cc: ccWorker{o: o, hc: hc}, in: introspectWorker{o: o, hc: hc}}, nil
		}, nil
	case "login-api":
		return func(context.Context, int) (worker, error) { return &loginWorker{o: o, hc: hc}, nil }, nil
	case "auth-code":
		return func(context.Context, int) (worker, error) { return &codeWorker{o: o, hc: hc}, nil }, nil
	case "refresh":
		return func(ctx context.Context, _ int) (worker, error) {
			w := &refreshWorker{code: codeWorker{o: o, hc: hc, offline: true}}
			return w, w.setup(ctx)
		}, nil
	case "get":
		return func(context.Context, int) (worker, error) { return &getWorker{o: o, hc: hc}, nil }, nil
	}
	return nil, usageError{"unknown scenario"}
}

// send performs a request and returns the body of a 2xx response; any other
// status is an error of kind "http_<status>".
func send(hc *http.Client, req *http.Request) ([]byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return body, errKind{fmt.Sprintf("http_%d", resp.StatusCode)}
	}
	return body, nil
}

func formRequest(ctx context.Context, target string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// clientAuth authenticates as the client: HTTP Basic with a secret
// (RFC 6749 §2.3.1, form-encoded id and secret), or client_id in the form for
// a public client.
func clientAuth(req *http.Request, form url.Values, id, secret string) {
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func tokenCall(ctx context.Context, hc *http.Client, o *Options, form url.Values) (*tokenResponse, error) {
	if o.ClientSecret == "" {
		form.Set("client_id", o.ClientID)
	}
	req, err := formRequest(ctx, o.TokenURL, form)
	if err != nil {
		return nil, err
	}
	clientAuth(req, form, o.ClientID, o.ClientSecret)
	body, err := send(hc, req)
	if err != nil {
		return nil, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return nil, errKind{"bad_token_response"}
	}
	return &tr, nil
}

type ccWorker struct {
	o  *Options
	hc *http.Client
}

func (w *ccWorker) token(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if w.o.Scope != "" {
		form.Set("scope", w.o.Scope)
	}
	tr, err := tokenCall(ctx, w.hc, w.o, form)
	if err != nil {
		return "", err
	}
	return tr.AccessToken, nil
}

func (w *ccWorker) Do(ctx context.Context) error {
	_, err := w.token(ctx)
	return err
}

// freshIntrospectWorker issues a token and introspects it: every request
// pair touches a token no lookup has seen, so the server's lookup cache
// fills up to its bound (the memory soak).
type freshIntrospectWorker struct {
	cc ccWorker
	in introspectWorker
}

func (w *freshIntrospectWorker) Do(ctx context.Context) error {
	tok, err := w.cc.token(ctx)
	if err != nil {
		return err
	}
	w.in.body = url.Values{"token": {tok}}.Encode()
	return w.in.Do(ctx)
}

type introspectWorker struct {
	o    *Options
	hc   *http.Client
	body string
}

var activeTrue = []byte(`"active":true`)

func (w *introspectWorker) Do(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.IntrospectURL, strings.NewReader(w.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(w.o.IntrospectClientID), url.QueryEscape(w.o.IntrospectClientSecret))
	body, err := send(w.hc, req)
	if err != nil {
		return err
	}
	if !bytes.Contains(bytes.ReplaceAll(body, []byte(" "), nil), activeTrue) {
		return errKind{"inactive"}
	}
	return nil
}

type loginWorker struct {
	o  *Options
	hc *http.Client
}

func (w *loginWorker) Do(ctx context.Context) error {
	b, _ := json.Marshal(map[string]string{"tenant": w.o.Tenant, "email": w.o.Email, "password": w.o.Password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(w.o.URL, "/")+"/api/auth/login", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	body, err := send(w.hc, req)
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`"access_token"`)) {
		return errKind{"no_token"}
	}
	return nil
}

type getWorker struct {
	o  *Options
	hc *http.Client
}

func (w *getWorker) Do(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(w.o.URL, "/")+w.o.Path, nil)
	if err != nil {
		return err
	}
	_, err = send(w.hc, req)
	return err
}

// codeWorker runs the whole authorization-code flow with PKCE through
// identityd's login form (the form is identityd's: other servers' login
// pages differ, so this scenario measures identityd only). The client must
// skip consent.
type codeWorker struct {
	o       *Options
	hc      *http.Client
	offline bool
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf" value="([^"]*)"`)
	returnToRE = regexp.MustCompile(`name="return_to" value="([^"]*)"`)
)

func (w *codeWorker) Do(ctx context.Context) error {
	_, err := w.flow(ctx)
	return err
}

// flow signs in through the form in a fresh cookie jar and exchanges the code.
func (w *codeWorker) flow(ctx context.Context) (*tokenResponse, error) {
	jar, _ := cookiejar.New(nil)
	redirect, err := url.Parse(w.o.RedirectURI)
	if err != nil {
		return nil, err
	}
	browser := &http.Client{Transport: w.hc.Transport, Timeout: w.hc.Timeout, Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host == redirect.Host && req.URL.Path == redirect.Path {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	verifier := randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	scope := "openid"
	if w.offline {
		scope += " offline_access"
	}
	q := url.Values{"response_type": {"code"}, "client_id": {w.o.ClientID}, "redirect_uri": {w.o.RedirectURI},
		"scope": {scope}, "state": {randomString(12)}, "nonce": {randomString(12)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.o.AuthorizeURL+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	page, err := send(browser, req)
	if err != nil {
		return nil, err
	}
	csrf, rt := csrfRE.FindSubmatch(page), returnToRE.FindSubmatch(page)
	if csrf == nil || rt == nil {
		return nil, errKind{"no_login_form"}
	}
	form := url.Values{"csrf": {html.UnescapeString(string(csrf[1]))}, "return_to": {html.UnescapeString(string(rt[1]))},
		"tenant": {w.o.Tenant}, "email": {w.o.Email}, "password": {w.o.Password}}
	loginURL := strings.TrimRight(w.o.URL, "/") + "/login"
	req, err = formRequest(ctx, loginURL, form)
	if err != nil {
		return nil, err
	}
	resp, err := browser.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode/100 != 3 || err != nil {
		return nil, errKind{fmt.Sprintf("login_http_%d", resp.StatusCode)}
	}
	code := loc.Query().Get("code")
	if code == "" {
		return nil, errKind{"no_code"}
	}
	return tokenCall(ctx, w.hc, w.o, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {w.o.RedirectURI}, "code_verifier": {verifier}})
}

// refreshWorker rotates its own grant's refresh token on every request.
type refreshWorker struct {
	code    codeWorker
	refresh string
}

func (w *refreshWorker) setup(ctx context.Context) error {
	tr, err := w.code.flow(ctx)
	if err != nil {
		return err
	}
	if tr.RefreshToken == "" {
		return errors.New("no refresh token: the client needs the refresh_token grant and the offline_access scope")
	}
	w.refresh = tr.RefreshToken
	return nil
}

func (w *refreshWorker) Do(ctx context.Context) error {
	tr, err := tokenCall(ctx, w.code.hc, w.code.o, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.refresh}})
	if err != nil {
		if ctx.Err() == nil {
			_ = w.setup(ctx) // the grant is gone: start a new one
		}
		return err
	}
	if tr.RefreshToken == "" {
		return errKind{"no_refresh_token"}
	}
	w.refresh = tr.RefreshToken
	return nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
