package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/ory/fosite"
)

// Client authentication methods (RFC 7591 §2, OpenID Connect Core §9).
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
)

// multiMethodClient is implemented by clients that may accept more than one
// authentication method (storage.Client).
type multiMethodClient interface {
	GetTokenEndpointAuthMethods() []string
}

// AcceptedAuthMethods returns every method client may authenticate with: its
// list when it has one, else its single registered method.
func AcceptedAuthMethods(client fosite.Client) []string {
	if c, ok := client.(multiMethodClient); ok {
		if m := c.GetTokenEndpointAuthMethods(); len(m) > 0 {
			return m
		}
	}
	if c, ok := client.(fosite.OpenIDConnectClient); ok && c.GetTokenEndpointAuthMethod() != "" {
		return []string{c.GetTokenEndpointAuthMethod()}
	}
	if client.IsPublic() {
		return []string{AuthMethodNone}
	}
	return []string{AuthMethodBasic}
}

// AttemptedAuthMethod names the client authentication a request tried:
// client_secret_basic (an Authorization: Basic header), client_secret_post
// (client_secret in the body), none (only client_id), or "" (nothing at all).
func AttemptedAuthMethod(r *http.Request, form url.Values) string {
	if _, _, ok := r.BasicAuth(); ok {
		return AuthMethodBasic
	}
	switch {
	case form.Get("client_secret") != "":
		return AuthMethodPost
	case form.Get("client_id") != "":
		return AuthMethodNone
	}
	return ""
}

// clientAuthenticator is the provider's fosite.ClientAuthenticationStrategy
// for the token and revocation endpoints. It differs from fosite v0.49.0's
// default in two ways: a client may accept several methods (fosite compares
// the one GetTokenEndpointAuthMethod for equality), so a confidential client
// registered without a method takes both HTTP Basic and the form post (RFC
// 6749 §2.3.1); and a request with no client authentication at all is
// invalid_client (RFC 6749 §5.2), not invalid_request. Using two methods in
// one request is refused (RFC 6749 §2.3). JWT client assertions are not
// offered.
type clientAuthenticator struct {
	store  fosite.ClientManager
	hasher fosite.Hasher
}

func (a *clientAuthenticator) authenticate(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if form.Get("client_assertion_type") != "" || form.Get("client_assertion") != "" {
		return nil, fosite.ErrInvalidClient.WithHint("Client assertions (private_key_jwt, client_secret_jwt) are not supported.")
	}
	method := AttemptedAuthMethod(r, form)
	var id, secret string
	switch method {
	case "":
		return nil, fosite.ErrInvalidClient.WithHint("Client authentication is required.")
	case AuthMethodBasic:
		rawID, rawSecret, _ := r.BasicAuth()
		var err error
		if id, err = url.QueryUnescape(rawID); err != nil {
			return nil, fosite.ErrInvalidClient.WithHint("The client id in the HTTP Authorization header is not form-encoded.")
		}
		if secret, err = url.QueryUnescape(rawSecret); err != nil {
			return nil, fosite.ErrInvalidClient.WithHint("The client secret in the HTTP Authorization header is not form-encoded.")
		}
		if form.Get("client_secret") != "" {
			return nil, fosite.ErrInvalidRequest.WithHint("The client used more than one authentication method.")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return nil, fosite.ErrInvalidRequest.WithHint("The client_id parameter does not match the HTTP Authorization header.")
		}
		if secret == "" {
			method = AuthMethodNone // "client:" names the client without a secret
		}
	default:
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, fosite.ErrInvalidClient.WithHint("Client authentication is required.")
	}
	client, err := a.store.GetClient(ctx, id)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithWrap(err).WithDebug(err.Error())
	}
	if client.IsPublic() {
		if method != AuthMethodNone {
			return nil, fosite.ErrInvalidClient.WithHint("The client is public and authenticates with 'none'.")
		}
		return client, nil
	}
	if method == AuthMethodNone {
		return nil, fosite.ErrInvalidClient.WithHint("The client must authenticate with its secret.")
	}
	if !slices.Contains(AcceptedAuthMethods(client), method) {
		return nil, fosite.ErrInvalidClient.WithHintf("The client is not registered for authentication method '%s'.", method)
	}
	if err := a.checkSecret(ctx, client, []byte(secret)); err != nil {
		return nil, fosite.ErrInvalidClient.WithWrap(err).WithDebug(err.Error())
	}
	return client, nil
}

// checkSecret compares against the current secret and, during a rotation
// window, the previous one (as fosite's checkClientSecret does).
func (a *clientAuthenticator) checkSecret(ctx context.Context, client fosite.Client, secret []byte) error {
	err := a.hasher.Compare(ctx, client.GetHashedSecret(), secret)
	if err == nil {
		return nil
	}
	if rc, ok := client.(fosite.ClientWithSecretRotation); ok {
		for _, h := range rc.GetRotatedHashes() {
			if a.hasher.Compare(ctx, h, secret) == nil {
				return nil
			}
		}
	}
	return err
}
