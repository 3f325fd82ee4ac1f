package handlers

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/oauth"
)

// tenantClient is a client that belongs to a tenant.
type tenantClient interface{ GetTenantID() string }

// token is the token endpoint (RFC 6749 §3.2): authorization_code (with
// PKCE), client_credentials and refresh_token. It answers only through
// fosite's writers, so every error is in RFC 6749 §5.2 form.
func (s *Server) token(c echo.Context) error {
	// The request's origin travels in ctx to the audit row of a detected
	// refresh-token reuse, which storage records from inside fosite.
	ctx := identity.WithMeta(c.Request().Context(), meta(c))
	c.SetRequest(c.Request().WithContext(ctx))
	w := c.Response()
	sess := oauth.NewSession()
	ar, err := s.Provider.NewAccessRequest(ctx, c.Request(), sess)
	if err == nil {
		if k := repeatedParam(c.Request().PostForm); k != "" {
			err = fosite.ErrInvalidRequest.WithHintf("The request parameter '%s' is included more than once.", k)
		}
	} else if errors.Is(err, fosite.ErrInvalidRequest) && unknownGrantType(c.Request().PostForm.Get("grant_type")) {
		// fosite answers a grant type no handler knows with invalid_request;
		// RFC 6749 §5.2 names it unsupported_grant_type.
		err = fosite.ErrUnsupportedGrantType.WithWrap(err)
	}
	if err != nil {
		s.writeAccessError(ctx, c, ar, concurrentAsInvalidGrant(err))
		return nil
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		s.refreshUserClaims(ctx, ar)
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// The client acts for itself (RFC 6749 §4.4): its id is the subject
		// and its tenant the token's.
		if err := s.Provider.GrantClientCredentials(ar); err != nil {
			s.writeAccessError(ctx, c, ar, err)
			return nil
		}
	}
	resp, err := s.Provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.writeAccessError(ctx, c, ar, concurrentAsInvalidGrant(err))
		return nil
	}
	s.Provider.WriteAccessResponse(ctx, w, ar, resp)
	s.countToken(ar)
	return nil
}

// repeatedParam returns the name of a parameter sent more than once, which
// RFC 6749 §3.1 and §3.2 forbid: which value wins would be a guess.
func repeatedParam(form url.Values) string {
	for k, v := range form {
		if len(v) > 1 {
			return k
		}
	}
	return ""
}

// unknownGrantType reports a grant_type naming a grant the server lacks.
func unknownGrantType(grantType string) bool {
	for _, g := range strings.Fields(grantType) {
		if !slices.Contains(oauth.NewDiscovery("").GrantTypesSupported, g) {
			return true
		}
	}
	return false
}

// concurrentAsInvalidGrant answers a grant that lost a race to a concurrent
// use of the same code or refresh token as invalid_grant: the client sent a
// grant that is no longer valid, which is not a server error.
func concurrentAsInvalidGrant(err error) error {
	if errors.Is(err, fosite.ErrSerializationFailure) {
		return fosite.ErrInvalidGrant.WithHint("The grant was used by a concurrent request.").WithWrap(err)
	}
	return err
}
