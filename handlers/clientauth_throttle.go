package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// ClientAuthLimiter is the failure budget of client authentication
// (identity.ClientAuthThrottle).
type ClientAuthLimiter interface {
	// Gate refuses a secret check (RateLimited, or an unavailable error
	// when the limiter cannot answer) once the client id or the address has
	// spent its budget.
	Gate(ctx context.Context, clientID, ip string) error
	// Failed counts one failed client authentication.
	Failed(ctx context.Context, clientID, ip string)
}

// clientAuthGuard throttles failed client authentication at the token,
// introspection and revocation endpoints, per client id and per IP, and
// turns a refused secret check into 429 (RFC 6749 §5.2 JSON, error
// "slow_down", with Retry-After).
//
// The checks run inside the Hasher, and only for secrets its verified cache
// does not know: a correct client whose secret is cached never waits for a
// bcrypt slot and is never refused by another caller's failures. A wrong
// secret past the budget is refused before bcrypt runs; when every bcrypt
// slot for unverified secrets is busy, the check is refused at once instead
// of queueing (oauth.Hasher.MaxUnverified).
func (s *Server) clientAuthGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		clientID, ip := presentedClientID(r), c.RealIP()
		sc := &oauth.SecretCheck{Gate: func(ctx context.Context) error { return s.ClientAuth.Gate(ctx, clientID, ip) }}
		c.SetRequest(r.WithContext(oauth.WithSecretCheck(r.Context(), sc)))

		res := c.Response()
		orig := res.Writer
		buf := &bufferedWriter{header: http.Header{}}
		res.Writer = buf
		err := next(c)
		res.Writer = orig
		if refused := sc.Refused(); refused != nil {
			if s.writeOAuthUnavailable(c.Request().Context(), orig, refused) {
				res.Status = http.StatusServiceUnavailable
				return nil
			}
			retry := 1
			var me *models.Error
			if errors.As(refused, &me) && me.RetryAfter > 0 {
				retry = int(math.Ceil(me.RetryAfter.Seconds()))
			}
			h := orig.Header()
			h.Set("Content-Type", "application/json;charset=UTF-8")
			h.Set("Cache-Control", "no-store")
			h.Set("Retry-After", strconv.Itoa(retry))
			res.Status = http.StatusTooManyRequests
			orig.WriteHeader(http.StatusTooManyRequests)
			_ = json.NewEncoder(orig).Encode(map[string]string{"error": "slow_down",
				"error_description": "Too many failed client authentications, or too many at once. Retry after the time in Retry-After."})
			return nil
		}
		if buf.status == http.StatusUnauthorized {
			s.ClientAuth.Failed(c.Request().Context(), clientID, ip)
		}
		buf.flush(orig)
		return err
	}
}

// presentedClientID is the client id of HTTP Basic (RFC 6749 §2.3.1:
// form-encoded) or of the client_id form field.
func presentedClientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if dec, err := url.QueryUnescape(id); err == nil {
			return dec
		}
		return id
	}
	if err := r.ParseForm(); err != nil {
		return ""
	}
	return r.PostForm.Get("client_id")
}

// bufferedWriter holds one small OAuth answer until the guard knows
// whether to send it or the 429 instead.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		return
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
