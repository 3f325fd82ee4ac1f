package oauth

import (
	"slices"

	"github.com/identityd/identityd/models"
)

// Discovery is the OpenID Provider Metadata document (OpenID Connect
// Discovery 1.0 §3, RFC 8414).
type Discovery struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
}

// NewDiscovery describes this server at issuer.
func NewDiscovery(issuer string) Discovery {
	return Discovery{
		Issuer:                                    issuer,
		AuthorizationEndpoint:                     issuer + "/api/oauth/authorize",
		TokenEndpoint:                             issuer + "/api/oauth/token",
		UserinfoEndpoint:                          issuer + "/api/oauth/userinfo",
		JWKSURI:                                   issuer + "/.well-known/jwks.json",
		IntrospectionEndpoint:                     issuer + "/api/oauth/introspect",
		RevocationEndpoint:                        issuer + "/api/oauth/revoke",
		EndSessionEndpoint:                        issuer + "/logout",
		ScopesSupported:                           []string{"openid", "offline_access", "email", "profile", "phone"},
		ResponseTypesSupported:                    []string{"code"},
		ResponseModesSupported:                    []string{"query"},
		GrantTypesSupported:                       []string{"authorization_code", "client_credentials", "refresh_token"},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          slices.Clone(models.SigningAlgs),
		TokenEndpointAuthMethodsSupported:         []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic"},
		RevocationEndpointAuthMethodsSupported:    []string{"client_secret_basic", "client_secret_post", "none"},
		ClaimsSupported:                           []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "acr", "amr", "email", "email_verified", "name", "given_name", "family_name", "locale", "zoneinfo", "picture", "updated_at", "phone_number", "phone_number_verified", "tenant_id"},
		ACRValuesSupported:                        []string{ACRPassword, ACRMultiFactor},
		CodeChallengeMethodsSupported:             []string{"S256"},
		PromptValuesSupported:                     []string{"none", "login", "consent"},
	}
}
