package oauthcli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultAuthorizationTimeout bounds PerformAuthorizationCode when neither
// ctx nor AuthorizationCode.Timeout does: the time a person has to sign in.
const DefaultAuthorizationTimeout = 5 * time.Minute

// ErrStateMismatch is a redirect to the loopback listener whose state is
// not the one sent: not the answer to this request (RFC 6749 §10.12).
var ErrStateMismatch = errors.New("oauthcli: authorize: the redirect's state does not match the request's")

// ErrIssuerMismatch is a redirect whose iss parameter names another
// authorization server, or lacks one the server promised (RFC 9207 §2.4):
// a mix-up attack.
var ErrIssuerMismatch = errors.New("oauthcli: authorize: the redirect's iss is not the issuer's")

// ErrNoCallbackCode is a redirect with neither a code nor an error.
var ErrNoCallbackCode = errors.New("oauthcli: authorize: the redirect has no code")

// AuthorizationCode is an authorization code grant run from the command
// line (RFC 6749 §4.1, RFC 8252: a native app with a loopback redirect).
type AuthorizationCode struct {
	ClientID string
	// ClientSecret is empty for a public client (PKCE alone).
	ClientSecret string
	// AuthMethod is AuthMethodBasic (default) or AuthMethodPost.
	AuthMethod string
	// Scopes are requested; with "openid" the ID token is verified.
	Scopes []string
	// Audience is sent as the audience parameter (space-separated).
	Audience []string
	// Prompt is OpenID Connect's prompt (none, login, consent), if set.
	Prompt string
	// ExtraParams are added to the authorization request (max_age,
	// acr_values, login_hint…), the first value of each; the parameters the
	// flow sets itself (state, nonce, PKCE, redirect_uri…) are refused.
	ExtraParams url.Values
	// Port is the loopback port to listen on; 0 picks a free one.
	Port int
	// RedirectURI is the redirect URI to send, default
	// http://127.0.0.1:PORT/callback. It must be http on a loopback IP
	// literal (127.0.0.1 or [::1], RFC 8252 §7.3) or localhost; its port,
	// when it has one, is the one listened on. The client must have it
	// registered (a registered loopback URI without a port matches any port).
	RedirectURI string
	// OpenBrowser is called with the authorization URL once the listener is
	// up, in the calling goroutine: it should start a browser and return
	// (an error aborts the flow). nil only prints the URL.
	OpenBrowser func(authURL string) error
	// Out receives the authorization URL, one line, for the user to open
	// (nil: written nowhere).
	Out io.Writer
	// Timeout bounds the whole flow when ctx has no deadline; zero is
	// DefaultAuthorizationTimeout.
	Timeout time.Duration
}

// reservedParams are the authorization request parameters the flow owns.
var reservedParams = map[string]bool{
	"response_type": true, "client_id": true, "redirect_uri": true, "scope": true, "state": true, "nonce": true,
	"code_challenge": true, "code_challenge_method": true, "prompt": true, "audience": true,
}

// callback is what the loopback listener received.
type callback struct {
	code string
	err  error
}

// PerformAuthorizationCode runs the authorization code flow with PKCE S256
// (RFC 7636) against a loopback listener on 127.0.0.1 (RFC 8252 §7.3): it
// sends the browser to the authorization endpoint with a random state (and
// nonce, with openid), waits for the redirect, checks the state in constant
// time, exchanges the code with the verifier, and, when openid was asked
// for, verifies the ID token with go-oidc (issuer, audience, signature by
// the published keys, expiry, nonce, and at_hash when present).
//
// An authorization error the server sends to the redirect URI (access_denied
// when the user declines, login_required for prompt=none…) is an *Error
// with Op "authorize"; a redirect with another state is ErrStateMismatch,
// one naming another issuer ErrIssuerMismatch (RFC 9207).
// The browser is answered with a small page ("You can close this window").
func PerformAuthorizationCode(ctx context.Context, ep Endpoint, in AuthorizationCode) (*Token, error) {
	if in.ClientID == "" {
		return nil, fmt.Errorf("oauthcli: authorization code: no client id")
	}
	style, err := authStyle(in.AuthMethod, in.ClientSecret)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		d := in.Timeout
		if d <= 0 {
			d = DefaultAuthorizationTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	dctx, dcancel := ep.stepDeadline(ctx)
	m, err := discover(dctx, ep)
	dcancel()
	if err != nil {
		return nil, err
	}

	ln, redirectURI, callbackPath, err := listenLoopback(in.RedirectURI, in.Port)
	if err != nil {
		return nil, err
	}
	state := rand.Text()
	nonce := rand.Text()
	verifier := oauth2.GenerateVerifier()
	results := make(chan callback, 1)
	var once sync.Once
	deliver := func(c callback) { once.Do(func() { results <- c }) }

	mux := http.NewServeMux()
	mux.HandleFunc(callbackPath, func(w http.ResponseWriter, r *http.Request) {
		c := readCallback(r.URL.Query(), state, m.issuer, m.IssParameter)
		writePage(w, c.err)
		deliver(c)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()

	cfg := &oauth2.Config{
		ClientID:     in.ClientID,
		ClientSecret: in.ClientSecret,
		RedirectURL:  redirectURI,
		Scopes:       in.Scopes,
		Endpoint:     oauth2.Endpoint{AuthURL: m.AuthorizationEndpoint, TokenURL: m.TokenEndpoint, AuthStyle: style},
	}
	openid := slices.Contains(in.Scopes, oidc.ScopeOpenID)
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if openid {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", nonce))
	}
	if in.Prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", in.Prompt))
	}
	if len(in.Audience) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("audience", strings.Join(in.Audience, " ")))
	}
	for k, vs := range in.ExtraParams {
		if reservedParams[k] {
			return nil, fmt.Errorf("oauthcli: authorization code: extra parameter %q is set by the flow itself", k)
		}
		if len(vs) > 0 {
			opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
		}
	}
	authURL := cfg.AuthCodeURL(state, opts...)
	if in.Out != nil {
		if _, err := fmt.Fprintln(in.Out, authURL); err != nil {
			return nil, fmt.Errorf("oauthcli: authorization code: write the URL: %w", err)
		}
	}
	if in.OpenBrowser != nil {
		if err := in.OpenBrowser(authURL); err != nil {
			return nil, fmt.Errorf("oauthcli: authorization code: open browser: %w", err)
		}
	}

	var c callback
	select {
	case c = <-results:
	case <-ctx.Done():
		return nil, fmt.Errorf("oauthcli: authorization code: waiting for the redirect to %s: %w", redirectURI, ctx.Err())
	}
	if c.err != nil {
		return nil, c.err
	}

	cctx, ccancel := ep.stepDeadline(ctx)
	defer ccancel()
	cctx = ep.clientContext(cctx)
	t, err := cfg.Exchange(cctx, c.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fromRetrieveError(err)
	}
	out := fromOAuth2(t)
	if !openid {
		return out, nil
	}
	claims, err := verifyIDToken(cctx, m, in.ClientID, out, nonce)
	if err != nil {
		return nil, err
	}
	out.IDTokenClaims = claims
	return out, nil
}

// readCallback reads the redirect (RFC 6749 §4.1.2, §4.1.2.1): the state
// and the issuer (RFC 9207 §2.4) first, so an error that is not the answer
// to this request is not believed either.
func readCallback(q url.Values, state, issuer string, issRequired bool) callback {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return callback{err: ErrStateMismatch}
	}
	if iss, ok := q["iss"]; (ok && (len(iss) != 1 || iss[0] != issuer)) || (!ok && issRequired) {
		return callback{err: ErrIssuerMismatch}
	}
	if code := q.Get("error"); code != "" {
		return callback{err: &Error{Op: "authorize", Code: code, Description: q.Get("error_description"), URI: q.Get("error_uri")}}
	}
	if q.Get("code") == "" {
		return callback{err: ErrNoCallbackCode}
	}
	return callback{code: q.Get("code")}
}

// verifyIDToken checks the ID token (OpenID Connect Core §3.1.3.7) and
// returns its claims.
func verifyIDToken(ctx context.Context, m *metadata, clientID string, t *Token, nonce string) (map[string]any, error) {
	if t.IDToken == "" {
		return nil, errors.New("oauthcli: id token: openid was requested but the token endpoint sent no id_token")
	}
	idt, err := m.provider.VerifierContext(ctx, &oidc.Config{ClientID: clientID}).Verify(ctx, t.IDToken)
	if err != nil {
		return nil, fmt.Errorf("oauthcli: id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, errors.New("oauthcli: id token: nonce does not match the request's")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(t.AccessToken); err != nil {
			return nil, fmt.Errorf("oauthcli: id token: %w", err)
		}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("oauthcli: id token: %w", err)
	}
	return claims, nil
}

// listenLoopback opens the listener the redirect comes to and returns the
// redirect URI to send and the path to serve.
func listenLoopback(redirectURI string, port int) (net.Listener, string, string, error) {
	if port < 0 || port > 65535 {
		return nil, "", "", fmt.Errorf("oauthcli: loopback: bad port %d", port)
	}
	if redirectURI == "" {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return nil, "", "", fmt.Errorf("oauthcli: loopback: %w", err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		return ln, "http://127.0.0.1:" + strconv.Itoa(p) + "/callback", "GET /callback", nil
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return nil, "", "", fmt.Errorf("oauthcli: loopback: redirect URI: %w", err)
	}
	host := u.Hostname()
	bind := host
	switch host {
	case "127.0.0.1", "::1":
	case "localhost":
		bind = "127.0.0.1"
	default:
		return nil, "", "", fmt.Errorf("oauthcli: loopback: redirect URI %q is not on a loopback host (127.0.0.1, [::1], localhost)", redirectURI)
	}
	if u.Scheme != "http" || u.Fragment != "" || u.User != nil {
		return nil, "", "", fmt.Errorf("oauthcli: loopback: redirect URI %q must be plain http without userinfo or fragment", redirectURI)
	}
	if u.Port() != "" {
		p, err := strconv.Atoi(u.Port())
		if err != nil {
			return nil, "", "", fmt.Errorf("oauthcli: loopback: redirect URI port: %w", err)
		}
		if port != 0 && port != p {
			return nil, "", "", fmt.Errorf("oauthcli: loopback: port %d differs from the redirect URI's %d", port, p)
		}
		port = p
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
	if err != nil {
		return nil, "", "", fmt.Errorf("oauthcli: loopback: %w", err)
	}
	u.Host = net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	path := u.Path
	if path == "" {
		path = "/"
	}
	// Serve exactly the path (a ServeMux pattern ending in / is a subtree).
	if strings.HasSuffix(path, "/") {
		path += "{$}"
	}
	return ln, u.String(), "GET " + path, nil
}

// writePage answers the browser.
func writePage(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	title, msg := "Signed in", "You can close this window and return to the terminal."
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadRequest
		title, msg = "Sign-in failed", err.Error()+" You can close this window and return to the terminal."
	}
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"+
		"<body><h1>%s</h1><p>%s</p></body></html>\n", html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}
