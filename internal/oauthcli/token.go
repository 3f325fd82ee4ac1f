package oauthcli

import (
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// Token is what the token endpoint issued (RFC 6749 §5.1), with the ID
// token's verified claims when there is one. It marshals to snake_case JSON.
type Token struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	ExpiresIn    int64     `json:"expires_in,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	// IDTokenClaims are the ID token's claims, set only after go-oidc
	// verified it (signature, issuer, audience, expiry, nonce).
	IDTokenClaims map[string]any `json:"id_token_claims,omitempty"`
}

// fromOAuth2 copies x/oauth2's token and its extra fields.
func fromOAuth2(t *oauth2.Token) *Token {
	out := &Token{
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken,
		ExpiresIn:    t.ExpiresIn,
		ExpiresAt:    t.Expiry,
	}
	if out.ExpiresIn == 0 {
		// x/oauth2 turns expires_in into Expiry and keeps the number only
		// in its raw fields.
		if n, ok := expiresIn(t.Extra("expires_in")); ok {
			out.ExpiresIn = n
		}
	}
	if s, ok := t.Extra("id_token").(string); ok {
		out.IDToken = s
	}
	if s, ok := t.Extra("scope").(string); ok {
		out.Scope = s
	}
	return out
}

// expiresIn reads the raw expires_in member (a JSON number; some servers
// send a string).
func expiresIn(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), n > 0
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil && i > 0
	}
	return 0, false
}
