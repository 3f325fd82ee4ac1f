package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/identityd/identityd/oauth"
)

const (
	authorizePath = "/api/oauth/authorize"
	// loginCtxParam carries, signed, when the authorization request was first
	// seen; prompt=login and max_age are judged against it.
	loginCtxParam = "login_ctx"
	// consentCtxParam carries, signed, that this user just consented to this
	// request (needed for prompt=consent).
	consentCtxParam = "consent_ctx"
	maxLoginCtxAge  = time.Hour
)

// authorize is the authorization endpoint (RFC 6749 §3.1, OpenID Connect
// Core §3.1.2). fosite validates the client, redirect URI, response type,
// scopes and PKCE; then oauth.ConsentStrategy decides whether the browser
// must sign in (again for prompt=login or an exceeded max_age) or consent
// first, and the code is issued with the session it built, naming the
// user, tenant and auth_time.
func (s *Server) authorize(c echo.Context) error {
	ctx := c.Request().Context()
	unsupported := requestObjectError(c.Request())
	if unsupported != nil {
		// Judge the rest of the request without the request object, so the
		// error goes back through a verified redirect URI (or, when the
		// client or redirect URI is wrong, to our error page).
		c.SetRequest(withoutRequestObject(c.Request()))
	}
	ar, err := s.Provider.NewAuthorizeRequest(ctx, c.Request())
	if err != nil {
		s.authorizeError(c, ar, err)
		return nil
	}
	if k := repeatedParam(c.Request().Form); k != "" {
		// Which redirect_uri or client_id was meant is unknown: answer here,
		// never at a redirect URI (RFC 6749 §3.1, §4.1.2.1).
		s.authorizeError(c, fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHintf("The request parameter '%s' is included more than once.", k))
		return nil
	}
	if unsupported != nil {
		s.authorizeError(c, ar, unsupported)
		return nil
	}
	if nonce := ar.GetRequestForm().Get("nonce"); nonce != "" && len(nonce) < s.Provider.Config.GetMinParameterEntropy(ctx) {
		// fosite would only refuse it when signing the ID token, at the code
		// exchange, after the person signed in for nothing.
		s.authorizeError(c, ar, fosite.ErrInvalidRequest.WithHintf("The nonce must be at least %d characters long.", s.Provider.Config.GetMinParameterEntropy(ctx)))
		return nil
	}
	form := ar.GetRequestForm()
	now := s.Now().UTC()
	requestedAt := now
	if rt, ok := s.requestTime(form.Get(loginCtxParam), now); ok {
		requestedAt = rt
	}
	ls, user := s.currentLogin(c)
	d := s.consent.Decide(ctx, oauth.AuthorizeInput{Request: ar, Login: ls, User: user,
		RequestedAt: requestedAt, Now: now, ConsentMarker: form.Get(consentCtxParam)})
	switch d.Outcome {
	case oauth.OutcomeLogin:
		return c.Redirect(http.StatusSeeOther, "/login?return_to="+url.QueryEscape(s.returnTo(form, requestedAt)))
	case oauth.OutcomeConsent:
		return c.Redirect(http.StatusSeeOther, "/consent?return_to="+url.QueryEscape(s.returnTo(form, requestedAt)))
	case oauth.OutcomeIssue:
	default:
		s.authorizeError(c, ar, d.Err)
		return nil
	}
	for _, scope := range d.Scopes {
		ar.GrantScope(scope)
	}
	oauth.GrantAudience(ar)
	resp, err := s.Provider.NewAuthorizeResponse(ctx, ar, d.Session)
	if err != nil {
		s.authorizeError(c, ar, err)
		return nil
	}
	s.Provider.WriteAuthorizeResponse(ctx, c.Response(), ar, resp)
	return nil
}

// requestObjectError is the answer to an authorization request that passes
// a request object (OpenID Connect Core §6): neither request nor
// request_uri is supported (discovery says so), and each has its registered
// error (§6.3). nil when the request has neither.
func requestObjectError(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return nil // fosite answers the malformed request
	}
	switch {
	case r.Form.Get("request_uri") != "":
		return fosite.ErrRequestURINotSupported.WithHint("The request_uri parameter is not supported; send the parameters in the query.")
	case r.Form.Get("request") != "":
		return fosite.ErrRequestNotSupported.WithHint("The request parameter is not supported; send the parameters in the query.")
	}
	return nil
}

// withoutRequestObject returns r without its request and request_uri
// parameters (in the query and the body).
func withoutRequestObject(r *http.Request) *http.Request {
	r2 := r.Clone(r.Context())
	q := r2.URL.Query()
	q.Del("request")
	q.Del("request_uri")
	r2.URL.RawQuery = q.Encode()
	form := url.Values{}
	for k, v := range r.Form {
		if k != "request" && k != "request_uri" {
			form[k] = v
		}
	}
	post := url.Values{}
	for k, v := range r.PostForm {
		if k != "request" && k != "request_uri" {
			post[k] = v
		}
	}
	r2.Form, r2.PostForm = form, post
	return r2
}

// authorizeError answers a failed authorization request. When the redirect
// URI can be trusted, fosite sends the error back to the client there; when it
// cannot (unknown client, unregistered redirect URI), a browser gets our error
// page and any other caller fosite's JSON error. Never a redirect to an
// unverified URI.
func (s *Server) authorizeError(c echo.Context, ar fosite.AuthorizeRequester, err error) {
	ctx := c.Request().Context()
	s.logOAuth5xx(ctx, err)
	if ar != nil && !ar.IsRedirectURIValid() && strings.Contains(c.Request().Header.Get("Accept"), "text/html") {
		rfc := fosite.ErrorToRFC6749Error(err)
		msg := rfc.GetDescription()
		if msg == "" {
			msg = "The application sent an invalid sign-in request."
		}
		_ = s.renderMessage(c, rfc.CodeField, "Cannot continue", msg, true)
		return
	}
	s.Provider.WriteAuthorizeError(ctx, c.Response(), ar, err)
}

// requestTime reads the signed first-seen time of an authorization request.
func (s *Server) requestTime(signed string, now time.Time) (time.Time, bool) {
	v, ok := s.Ring.Verify(signed)
	if !ok {
		return time.Time{}, false
	}
	raw, ok := strings.CutPrefix(v, "rt:")
	if !ok {
		return time.Time{}, false
	}
	nanos, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	t := time.Unix(0, nanos).UTC()
	if t.After(now.Add(time.Minute)) || now.Sub(t) > maxLoginCtxAge {
		return time.Time{}, false
	}
	return t, true
}

// returnTo is the signed, same-origin way back to this authorization request
// after login or consent, stamped with when the request was first seen.
func (s *Server) returnTo(form url.Values, requestedAt time.Time) string {
	q := url.Values{}
	for k, v := range form {
		if k != consentCtxParam {
			q[k] = v
		}
	}
	// Full precision: prompt=login must force a new login even when the
	// session was started within the same second as the request.
	q.Set(loginCtxParam, s.Ring.Sign("rt:"+strconv.FormatInt(requestedAt.UnixNano(), 10)))
	return s.Ring.Sign(authorizePath + "?" + q.Encode())
}

// verifyReturnTo returns the authorization URL a signed return_to names; it
// can only ever name our own authorization endpoint.
func (s *Server) verifyReturnTo(signed string) (*url.URL, bool) {
	v, ok := s.Ring.Verify(signed)
	if !ok || !strings.HasPrefix(v, authorizePath+"?") {
		return nil, false
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil, false
	}
	return u, true
}
