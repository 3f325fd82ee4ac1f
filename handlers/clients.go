package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// ClientService is the OAuth clients of a tenant (identity.Clients).
type ClientService interface {
	List(ctx context.Context, p identity.Principal) ([]models.Client, error)
	Get(ctx context.Context, p identity.Principal, id string) (*models.Client, error)
	Create(ctx context.Context, a identity.Actor, in identity.NewClient) (*identity.CreatedClient, error)
	Update(ctx context.Context, a identity.Actor, id string, patch identity.ClientPatch) (*models.Client, error)
	Delete(ctx context.Context, a identity.Actor, id string) error
	RotateSecret(ctx context.Context, a identity.Actor, id string) (string, *time.Time, error)
}

// clientView is a client as the API shows it: never a secret or its hash.
type clientView struct {
	ClientID                string   `json:"client_id"`
	Name                    string   `json:"name"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scopes                  []string `json:"scopes"`
	RedirectURIs            []string `json:"redirect_uris"`
	Audience                []string `json:"audience"`
	Public                  bool     `json:"public"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	// TokenEndpointAuthMethods: every method the client may authenticate with.
	TokenEndpointAuthMethods []string  `json:"token_endpoint_auth_methods"`
	PostLogoutRedirectURIs   []string  `json:"post_logout_redirect_uris"`
	IntrospectAllTenants     bool      `json:"introspect_all_tenants"`
	SkipConsent              bool      `json:"skip_consent"`
	AccessTokenFormat        string    `json:"access_token_format"`
	IDTokenSignedResponseAlg string    `json:"id_token_signed_response_alg"`
	ServiceAccountID         *string   `json:"service_account_id"`
	CreatedAt                time.Time `json:"created_at"`
	UpdatedAt                time.Time `json:"updated_at"`
}

func clientStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func viewClient(c *models.Client) clientView {
	return clientView{
		ClientID: c.ID, Name: c.Name, GrantTypes: clientStrings(c.GrantTypes), ResponseTypes: clientStrings(c.ResponseTypes),
		Scopes: clientStrings(c.Scopes), RedirectURIs: clientStrings(c.RedirectURIs), Audience: clientStrings(c.Audience), Public: c.Public,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, SkipConsent: c.SkipConsent, AccessTokenFormat: c.AccessTokenFormat,
		ServiceAccountID: c.ServiceAccountID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		TokenEndpointAuthMethods: clientAuthMethods(c), PostLogoutRedirectURIs: clientStrings(c.PostLogoutRedirectURIs),
		IntrospectAllTenants: c.IntrospectAllTenants, IDTokenSignedResponseAlg: c.IDTokenAlg(),
	}
}

// clientAuthMethods are the methods a client accepts; a client registered
// before the list existed accepts its one method.
func clientAuthMethods(c *models.Client) []string {
	if len(c.TokenEndpointAuthMethods) == 0 {
		return []string{c.TokenEndpointAuthMethod}
	}
	return c.TokenEndpointAuthMethods
}

// clientRenameField moves a validation error from the service's field name to the
// API's.
func clientRenameField(err error, from, to string) error {
	if me, ok := err.(*models.Error); ok && me.Kind == models.KindInvalid {
		if msg, ok := me.Fields[from]; ok {
			delete(me.Fields, from)
			me.Fields[to] = msg
		}
	}
	return err
}

func (s *Server) apiListClients(c echo.Context) error {
	list, err := s.ClientRegistry.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := make([]clientView, 0, len(list))
	for i := range list {
		out = append(out, viewClient(&list[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"clients": out})
}

func (s *Server) apiGetClient(c echo.Context) error {
	cl, err := s.ClientRegistry.Get(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewClient(cl))
}

func (s *Server) apiCreateClient(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	// The tenant is never taken from the body; the id and the secret only
	// from the command line (the system principal: identity.Clients.Create
	// drops them for anyone else).
	var in struct {
		ClientID                 string   `json:"client_id"`
		ClientSecret             string   `json:"client_secret"`
		Name                     string   `json:"name"`
		GrantTypes               []string `json:"grant_types"`
		Scopes                   []string `json:"scopes"`
		RedirectURIs             []string `json:"redirect_uris"`
		Audience                 []string `json:"audience"`
		Public                   bool     `json:"public"`
		SkipConsent              bool     `json:"skip_consent"`
		TokenEndpointAuthMethod  string   `json:"token_endpoint_auth_method"`
		TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods"`
		PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris"`
		IntrospectAllTenants     bool     `json:"introspect_all_tenants"`
		AccessTokenFormat        string   `json:"access_token_format"`
		IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg"`
		ServiceAccountID         string   `json:"service_account_id"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.ServiceAccountID != "" {
		// Binding a client to a service account hands out the account's
		// power: its own danger permission, with its step-up.
		if err := s.require(identity.PermOAuthClientsBind)(func(echo.Context) error { return nil })(c); err != nil {
			return err
		}
	}
	cc, err := s.ClientRegistry.Create(c.Request().Context(), a, identity.NewClient{
		ID: in.ClientID, Secret: in.ClientSecret, Name: in.Name, GrantTypes: in.GrantTypes, Scopes: in.Scopes, RedirectURIs: in.RedirectURIs, Audience: in.Audience,
		Public: in.Public, SkipConsent: in.SkipConsent, AuthMethod: in.TokenEndpointAuthMethod,
		AccessTokenFormat: in.AccessTokenFormat, IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg, ServiceAccountID: in.ServiceAccountID,
		AuthMethods: in.TokenEndpointAuthMethods, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		IntrospectAllTenants: in.IntrospectAllTenants,
	})
	if err != nil {
		return clientRenameField(clientRenameField(err, "auth_method", "token_endpoint_auth_method"), "auth_methods", "token_endpoint_auth_methods")
	}
	body := struct {
		clientView
		ClientSecret string `json:"client_secret,omitempty"`
	}{viewClient(cc.Client), cc.Secret}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, body)
}

func (s *Server) apiUpdateClient(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	var in struct {
		Name                     *string   `json:"name"`
		RedirectURIs             *[]string `json:"redirect_uris"`
		Scopes                   *[]string `json:"scopes"`
		GrantTypes               *[]string `json:"grant_types"`
		Audience                 *[]string `json:"audience"`
		SkipConsent              *bool     `json:"skip_consent"`
		AccessTokenFormat        *string   `json:"access_token_format"`
		IDTokenSignedResponseAlg *string   `json:"id_token_signed_response_alg"`
		PostLogoutRedirectURIs   *[]string `json:"post_logout_redirect_uris"`
		TokenEndpointAuthMethods *[]string `json:"token_endpoint_auth_methods"`
		IntrospectAllTenants     *bool     `json:"introspect_all_tenants"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	cl, err := s.ClientRegistry.Update(c.Request().Context(), a, c.Param("id"), identity.ClientPatch{
		Name: in.Name, RedirectURIs: in.RedirectURIs, Scopes: in.Scopes, GrantTypes: in.GrantTypes,
		Audience: in.Audience, SkipConsent: in.SkipConsent, AccessTokenFormat: in.AccessTokenFormat,
		IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, AuthMethods: in.TokenEndpointAuthMethods,
		IntrospectAllTenants: in.IntrospectAllTenants,
	})
	if err != nil {
		return clientRenameField(clientRenameField(err, "auth_method", "token_endpoint_auth_method"), "auth_methods", "token_endpoint_auth_methods")
	}
	return c.JSON(http.StatusOK, viewClient(cl))
}

func (s *Server) apiDeleteClient(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.ClientRegistry.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiRotateClientSecret(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	secret, until, err := s.ClientRegistry.RotateSecret(c.Request().Context(), a, id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"client_id": id, "client_secret": secret, "previous_secret_expires_at": until})
}
