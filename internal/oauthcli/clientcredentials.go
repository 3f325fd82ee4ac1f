package oauthcli

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client authentication methods at the token endpoint (RFC 6749 §2.3.1,
// OpenID Connect Core §9).
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
)

// ClientCredentials is a client-credentials grant request (RFC 6749 §4.4).
type ClientCredentials struct {
	ClientID     string
	ClientSecret string
	// Scopes are requested as the scope parameter; none asks for the
	// server's default.
	Scopes []string
	// Audience is sent as the audience parameter (space-separated), naming
	// the resource servers the token is for.
	Audience []string
	// AuthMethod is AuthMethodBasic (the default: every server must
	// support it) or AuthMethodPost.
	AuthMethod string
}

// authStyle maps an auth method to x/oauth2's. A client without a secret
// sends only its client_id in the form.
func authStyle(method, secret string) (oauth2.AuthStyle, error) {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams, nil
	case method == "" || method == AuthMethodBasic:
		return oauth2.AuthStyleInHeader, nil
	case method == AuthMethodPost:
		return oauth2.AuthStyleInParams, nil
	}
	return 0, fmt.Errorf("oauthcli: unknown client authentication method %q (want %s or %s)", method, AuthMethodBasic, AuthMethodPost)
}

// PerformClientCredentials gets a token for the client itself (RFC 6749
// §4.4) at the token endpoint the issuer's discovery document names. A
// refusal of the server is an *Error (invalid_client for a wrong secret).
func PerformClientCredentials(ctx context.Context, ep Endpoint, in ClientCredentials) (*Token, error) {
	if in.ClientID == "" {
		return nil, fmt.Errorf("oauthcli: client credentials: no client id")
	}
	style, err := authStyle(in.AuthMethod, in.ClientSecret)
	if err != nil {
		return nil, err
	}
	ctx, cancel := ep.withDeadline(ctx)
	defer cancel()
	m, err := discover(ctx, ep)
	if err != nil {
		return nil, err
	}
	cfg := clientcredentials.Config{
		ClientID:     in.ClientID,
		ClientSecret: in.ClientSecret,
		TokenURL:     m.TokenEndpoint,
		Scopes:       in.Scopes,
		AuthStyle:    style,
	}
	if len(in.Audience) > 0 {
		cfg.EndpointParams = url.Values{"audience": {strings.Join(in.Audience, " ")}}
	}
	t, err := cfg.Token(ep.clientContext(ctx))
	if err != nil {
		return nil, fromRetrieveError(err)
	}
	return fromOAuth2(t), nil
}
