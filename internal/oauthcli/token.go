package oauthcli

import (
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
	if s, ok := t.Extra("id_token").(string); ok {
		out.IDToken = s
	}
	if s, ok := t.Extra("scope").(string); ok {
		out.Scope = s
	}
	return out
}
