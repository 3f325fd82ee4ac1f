package handlers

import (
	"context"

	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

const principalKey = "identity.principal"

// ActivityCache throttles last-activity writes across instances.
type ActivityCache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// requireUser authenticates a user with a first-party token (the account
// API): the same lookup introspection uses, so a revoked token fails at once
// on every instance. Service accounts and tokens of third-party OAuth
// clients cannot use it.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return s.authenticate(func(c echo.Context) error {
		if err := accountUser(c, principal(c)); err != nil {
			return err
		}
		return next(c)
	})
}

// accountUser is the account API's rule for a resolved bearer: a user's
// first-party token, and under impersonation only the routes it allows.
// requireUser applies it, and so does a public route that also takes an
// optional bearer (the verification resend).
func accountUser(c echo.Context, p identity.Principal) error {
	if p.Kind != models.PrincipalUser {
		return models.ErrFirstPartyTokenRequired()
	}
	if p.ActorID != "" && !impersonationAllowedRoute(c.Request().Method, c.Path()) {
		return identity.ErrImpersonationForbidden()
	}
	return nil
}

// touch records session activity at most once a minute, gated by the shared
// cache so most requests write nothing.
func (s *Server) touch(ctx context.Context, sessionID string) {
	if sessionID == "" {
		return
	}
	key := "touch:" + sessionID
	if s.Activity != nil {
		if _, ok, err := s.Activity.Get(ctx, key); err == nil && ok {
			return
		}
		_ = s.Activity.Set(ctx, key, []byte{1}, time.Minute)
	}
	if err := s.Sessions.Touch(ctx, sessionID); err != nil {
		s.Logger.WarnContext(ctx, "touch session", "err", err)
	}
}

func principal(c echo.Context) identity.Principal {
	p, _ := c.Get(principalKey).(identity.Principal)
	return p
}

func meta(c echo.Context) identity.Meta {
	return identity.Meta{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}
