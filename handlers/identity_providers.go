package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// IdentityProviderService is the tenant's upstream identity providers
// (identity.IdentityProviders, issue 12 §1). Another tenant's provider is
// NotFound.
type IdentityProviderService interface {
	List(ctx context.Context, tenantID string) ([]models.IdentityProvider, error)
	Get(ctx context.Context, tenantID, id string) (*models.IdentityProvider, error)
	Create(ctx context.Context, a identity.Actor, in identity.IdentityProviderInput) (*models.IdentityProvider, error)
	Update(ctx context.Context, a identity.Actor, id string, in identity.IdentityProviderInput) (*models.IdentityProvider, error)
	Delete(ctx context.Context, a identity.Actor, id string) (int, error)
}

// identityProviderView is a provider as the API shows it: never its
// secret, only whether one is set; with the redirect URI to register
// upstream.
type identityProviderView struct {
	ID               string              `json:"id"`
	Kind             string              `json:"kind"`
	Name             string              `json:"name"`
	ButtonLabel      string              `json:"button_label"`
	Issuer           string              `json:"issuer"`
	AuthorizationURL string              `json:"authorization_url"`
	TokenURL         string              `json:"token_url"`
	UserinfoURL      string              `json:"userinfo_url"`
	ClientID         string              `json:"client_id"`
	ClientSecretSet  bool                `json:"client_secret_set"`
	ClientAuthMethod string              `json:"client_auth_method"`
	Scopes           []string            `json:"scopes"`
	Claims           models.ClaimMapping `json:"claims"`
	GroupRoles       map[string][]string `json:"group_roles"`
	JITProvisioning  bool                `json:"jit_provisioning"`
	AllowedDomains   []string            `json:"allowed_domains"`
	Enabled          bool                `json:"enabled"`
	RedirectURI      string              `json:"redirect_uri"`
	CreatedAt        time.Time           `json:"created_at"`
	UpdatedAt        time.Time           `json:"updated_at"`
}

func (s *Server) viewIdentityProvider(p *models.IdentityProvider) identityProviderView {
	list := func(l models.StringList) []string {
		if l == nil {
			return []string{}
		}
		return []string(l)
	}
	groups := make(map[string][]string, len(p.GroupRoles))
	for g, roles := range p.GroupRoles {
		groups[g] = list(roles)
	}
	return identityProviderView{ID: p.ID, Kind: p.Kind, Name: p.Name, ButtonLabel: p.ButtonLabel, Issuer: p.Issuer,
		AuthorizationURL: p.AuthorizationURL, TokenURL: p.TokenURL, UserinfoURL: p.UserinfoURL, ClientID: p.ClientID,
		ClientSecretSet: len(p.ClientSecretSealed) > 0, ClientAuthMethod: p.ClientAuthMethod, Scopes: list(p.Scopes),
		Claims: p.Claims, GroupRoles: groups, JITProvisioning: p.JITProvisioning, AllowedDomains: list(p.AllowedDomains),
		Enabled: p.Enabled, RedirectURI: identity.FederationRedirectURI(s.Issuer, p.ID), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// identityProviderBody is IdentityProviderInput in JSON: absent fields are
// nil (PATCH leaves them as they are).
type identityProviderBody struct {
	Kind             *string              `json:"kind"`
	Name             *string              `json:"name"`
	ButtonLabel      *string              `json:"button_label"`
	Issuer           *string              `json:"issuer"`
	AuthorizationURL *string              `json:"authorization_url"`
	TokenURL         *string              `json:"token_url"`
	UserinfoURL      *string              `json:"userinfo_url"`
	ClientID         *string              `json:"client_id"`
	ClientSecret     *string              `json:"client_secret"`
	ClientAuthMethod *string              `json:"client_auth_method"`
	Scopes           *[]string            `json:"scopes"`
	Claims           *models.ClaimMapping `json:"claims"`
	GroupRoles       *map[string][]string `json:"group_roles"`
	JITProvisioning  *bool                `json:"jit_provisioning"`
	AllowedDomains   *[]string            `json:"allowed_domains"`
	Enabled          *bool                `json:"enabled"`
}

func (b identityProviderBody) input() identity.IdentityProviderInput {
	return identity.IdentityProviderInput{Kind: b.Kind, Name: b.Name, ButtonLabel: b.ButtonLabel, Issuer: b.Issuer,
		AuthorizationURL: b.AuthorizationURL, TokenURL: b.TokenURL, UserinfoURL: b.UserinfoURL, ClientID: b.ClientID,
		ClientSecret: b.ClientSecret, ClientAuthMethod: b.ClientAuthMethod, Scopes: b.Scopes, Claims: b.Claims,
		GroupRoles: b.GroupRoles, JITProvisioning: b.JITProvisioning, AllowedDomains: b.AllowedDomains, Enabled: b.Enabled}
}

func (s *Server) apiListIdentityProviders(c echo.Context) error {
	list, err := s.IdentityProviders.List(c.Request().Context(), principal(c).TenantID)
	if err != nil {
		return err
	}
	out := make([]identityProviderView, 0, len(list))
	for i := range list {
		out = append(out, s.viewIdentityProvider(&list[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"identity_providers": out})
}

func (s *Server) apiCreateIdentityProvider(c echo.Context) error {
	var in identityProviderBody
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	p, err := s.IdentityProviders.Create(c.Request().Context(), a, in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.viewIdentityProvider(p))
}

func (s *Server) apiGetIdentityProvider(c echo.Context) error {
	p, err := s.IdentityProviders.Get(c.Request().Context(), principal(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewIdentityProvider(p))
}

func (s *Server) apiUpdateIdentityProvider(c echo.Context) error {
	var in identityProviderBody
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	p, err := s.IdentityProviders.Update(c.Request().Context(), a, c.Param("id"), in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewIdentityProvider(p))
}

func (s *Server) apiDeleteIdentityProvider(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if _, err := s.IdentityProviders.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
