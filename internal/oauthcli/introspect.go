package oauthcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

// Introspect asks the introspection endpoint about token (RFC 7662 §2.1),
// authenticating as the client with HTTP Basic (RFC 6749 §2.3.1, the method
// identityd's introspection takes). tokenTypeHint may be empty. The answer
// is the server's JSON object: {"active": false} for a token that is
// unknown, expired, revoked or (on identityd) of another tenant; that is no
// error. A refusal (a wrong secret: 401 request_unauthorized or
// invalid_client) is an *Error.
func Introspect(ctx context.Context, ep Endpoint, clientID, clientSecret, token, tokenTypeHint string) (map[string]any, error) {
	if clientID == "" {
		return nil, fmt.Errorf("oauthcli: introspect: no client id")
	}
	resp, err := postForm(ctx, ep, "introspect", func(m *metadata) string { return m.IntrospectionEndpoint },
		tokenForm(token, tokenTypeHint), clientID, clientSecret, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errorFromResponse("introspect", resp)
	}
	var out map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&out); err != nil {
		return nil, fmt.Errorf("oauthcli: introspect: decode answer: %w", err)
	}
	if _, ok := out["active"].(bool); !ok {
		return nil, fmt.Errorf("oauthcli: introspect: answer has no boolean active member")
	}
	return out, nil
}

// Active reports an introspection answer's active member.
func Active(introspection map[string]any) bool {
	a, _ := introspection["active"].(bool)
	return a
}

// Revoke revokes token at the revocation endpoint (RFC 7009 §2.1). A
// confidential client (clientSecret set) authenticates with HTTP Basic, a
// public one sends its client_id. tokenTypeHint may be empty. An unknown,
// expired or already revoked token is no error (the server answers 200,
// §2.2); a refusal is an *Error, and 503 (the token may still be valid,
// §2.2.1: retry) is an *Error with StatusCode 503.
func Revoke(ctx context.Context, ep Endpoint, clientID, clientSecret, token, tokenTypeHint string) error {
	if clientID == "" {
		return fmt.Errorf("oauthcli: revoke: no client id")
	}
	resp, err := postForm(ctx, ep, "revoke", func(m *metadata) string { return m.RevocationEndpoint },
		tokenForm(token, tokenTypeHint), clientID, clientSecret, clientSecret != "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errorFromResponse("revoke", resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	return nil
}

func tokenForm(token, hint string) url.Values {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return form
}

// postForm discovers the endpoint and posts form to it, with HTTP Basic
// (client id and secret form-encoded first, RFC 6749 §2.3.1) when basic,
// else with client_id in the form. The error of a failed request names the
// operation, never the form.
func postForm(ctx context.Context, ep Endpoint, op string, endpoint func(*metadata) string, form url.Values, clientID, clientSecret string, basic bool) (*http.Response, error) {
	ctx, cancel := ep.withDeadline(ctx)
	m, err := discover(ctx, ep)
	if err != nil {
		cancel()
		return nil, err
	}
	target := endpoint(m)
	if target == "" {
		cancel()
		return nil, fmt.Errorf("oauthcli: %s: the discovery document names no %s endpoint", op, op)
	}
	if !basic {
		form.Set("client_id", clientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("oauthcli: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	resp, err := ep.client().Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("oauthcli: %s: %w", op, err)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases the call's deadline when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
