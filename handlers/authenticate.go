package handlers

import (
	"context"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/labstack/echo/v4"
)

// authenticate resolves the bearer credential into a principal: an API key,
// a first-party user token, or a client-credentials token of a client held
// by a service account. Anything else is 401 (or 403 for tokens of
// third-party clients).
//
// A request served in-process by the command line (WithCommandLinePrincipal)
// carries its principal in the context instead: nothing from the network can
// set it.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, ok := commandLinePrincipal(c.Request().Context())
		if !ok {
			var err error
			if p, err = s.Authenticator.Resolve(c.Request().Context(), bearerToken(c.Request())); err != nil {
				return err
			}
		}
		c.Set(principalKey, p)
		if p.ActorID != "" {
			// Every audit row written for this request names the admin as
			// actor and the user as subject (identity.Auditor).
			c.SetRequest(c.Request().WithContext(identity.WithImpersonation(c.Request().Context(), p.ActorID, p.UserID)))
		}
		if p.Kind != models.PrincipalServiceAccount && p.Kind != identity.PrincipalSystem {
			s.touch(c.Request().Context(), p.SessionID)
		}
		return next(c)
	}
}

type commandLineKey struct{}

// WithCommandLinePrincipal marks ctx as a request the command line makes
// in-process (identityd's CLI without --endpoint): the admin API answers it
// as p, the system principal of one tenant (identity.SystemPrincipal). Only
// code in this process can build such a context; an HTTP request never
// carries one.
func WithCommandLinePrincipal(ctx context.Context, p identity.Principal) context.Context {
	return context.WithValue(ctx, commandLineKey{}, p)
}

func commandLinePrincipal(ctx context.Context) (identity.Principal, bool) {
	p, ok := ctx.Value(commandLineKey{}).(identity.Principal)
	return p, ok && p.Kind == identity.PrincipalSystem
}

// PrincipalResolver turns a bearer credential into a principal
// (identity.Authenticator).
type PrincipalResolver interface {
	Resolve(ctx context.Context, bearer string) (identity.Principal, error)
}

// TokenIntrospector adapts the provider's access-token introspection to
// identity.TokenIntrospector, which the identity.Authenticator asks: an
// inactive token is Unauthenticated, a lookup that could not be made
// Unavailable.
func TokenIntrospector(p *oauth.Provider) identity.TokenIntrospector { return providerIntrospector{p} }

type providerIntrospector struct{ p *oauth.Provider }

// Introspect looks token up as fosite introspection does (a refresh
// token is no bearer credential) and reports what its session says.
func (pi providerIntrospector) Introspect(ctx context.Context, token string) (identity.TokenInfo, error) {
	ar, sess, err := pi.p.IntrospectAccessToken(ctx, token)
	if unavailable(err) {
		return identity.TokenInfo{}, models.ErrUnavailable("token lookup", err)
	}
	if err != nil {
		return identity.TokenInfo{}, models.ErrInvalidToken().WithCause(err)
	}
	info := identity.TokenInfo{TenantID: sess.TenantID, Subject: sess.Subject, ClientID: ar.GetClient().GetID(), SessionID: sess.SessionID}
	switch sess.Kind {
	case oauth.KindUser:
		info.Kind = identity.TokenOfUser
	case oauth.KindClient:
		info.Kind = identity.TokenOfClient
	}
	if sess.Claims != nil {
		info.AuthTime, info.AMR = sess.Claims.AuthTime, sess.Claims.AuthenticationMethodsReferences
	}
	if act, ok := sess.Extra["act"].(map[string]any); ok {
		info.ActorID, _ = act["sub"].(string)
	}
	return info, nil
}
