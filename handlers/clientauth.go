package handlers

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"
)

// challengeRealm is the realm of this server's authentication challenges.
const challengeRealm = `realm="identity"`

// setClientChallenge adds WWW-Authenticate to an answer that will be a 401
// (invalid_client at the token and revocation endpoints, request_unauthorized
// at introspection): RFC 6749 §5.2 requires it when the client tried HTTP
// Basic, and RFC 9110 §11.6.1 on every 401. A caller that presented a bearer
// token (introspection only) is challenged for one; everyone else for Basic,
// the method every confidential client can use.
func setClientChallenge(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	if !errors.Is(err, fosite.ErrInvalidClient) && !errors.Is(err, fosite.ErrRequestUnauthorized) {
		return
	}
	if fosite.ErrorToRFC6749Error(err).CodeField != http.StatusUnauthorized {
		return
	}
	if _, _, basic := r.BasicAuth(); !basic && fosite.AccessTokenFromRequest(r) != "" {
		w.Header().Set("WWW-Authenticate", `Bearer `+challengeRealm+`, error="invalid_token"`)
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic `+challengeRealm+`, charset="UTF-8"`)
}
