package main

import (
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/identityd/identityd/internal/oauthcli"
)

// openInBrowser starts the system's browser on a URL (perform
// authorization-code --open); tests replace it with a scripted browser.
var openInBrowser = func(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot open a browser (open the URL printed above yourself): %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// clientFlags are the OAuth client credentials of the protocol commands.
type clientFlags struct {
	id, secret, secretFile, authMethod string
}

func (f *clientFlags) bind(cmd *cobra.Command, secretHelp string) {
	cmd.Flags().StringVar(&f.id, "client-id", "", "the OAuth client's id (required)")
	cmd.Flags().StringVar(&f.secret, "client-secret", "", secretHelp+" (default $IDENTITY_CLIENT_SECRET; --client-secret-file keeps it out of the process list)")
	cmd.Flags().StringVar(&f.secretFile, "client-secret-file", "", "read the client secret from this file (- for stdin)")
	cmd.Flags().StringVar(&f.authMethod, "auth-method", "", "how the client authenticates at the token endpoint: client_secret_basic (default) or client_secret_post")
}

func (f *clientFlags) resolve(c *cli, cmd *cobra.Command) (id, secret string, err error) {
	if strings.TrimSpace(f.id) == "" {
		return "", "", errUsage{cmd.CommandPath() + ": missing --client-id"}
	}
	secret = f.secret
	if f.secretFile != "" {
		if secret != "" {
			return "", "", errUsage{"give --client-secret or --client-secret-file, not both"}
		}
		if secret, err = readSecretFile(f.secretFile, c.stdin); err != nil {
			return "", "", errUsage{"--client-secret-file: " + err.Error()}
		}
	}
	if secret == "" {
		secret = c.getenv("IDENTITY_CLIENT_SECRET")
	}
	return strings.TrimSpace(f.id), secret, nil
}

// issuer is the server the protocol commands talk to: --endpoint or
// IDENTITY_ENDPOINT, its issuer URL.
func (c *cli) issuer(cmd *cobra.Command) (oauthcli.Endpoint, error) {
	u := c.endpointURL()
	if u == "" {
		return oauthcli.Endpoint{}, errUsage{cmd.CommandPath() + " talks to a running server: give --endpoint (or IDENTITY_ENDPOINT), its issuer URL"}
	}
	if c.tenant != "" {
		return oauthcli.Endpoint{}, errUsage{"--tenant is not used by " + cmd.CommandPath() + ": the client's tenant is its own"}
	}
	return oauthcli.Endpoint{Issuer: u, Timeout: c.timeout}, nil
}

// tokenArg is TOKEN, or the token read from stdin for "-".
func (c *cli) tokenArg(arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	t, err := readSecretFile("-", c.stdin)
	if err != nil {
		return "", errUsage{"TOKEN: " + err.Error()}
	}
	return strings.TrimSpace(t), nil
}

// protocolError keeps an OAuth error's code in the one line.
func protocolError(err error) error {
	var oe *oauthcli.Error
	if errors.As(err, &oe) {
		return errExit{exitError, oe.Error()}
	}
	return err
}

func (c *cli) protocolCommands() []*cobra.Command {
	perform := c.group("perform", "Run an OAuth 2.0 grant against a running server and print the tokens")

	var cc clientFlags
	var ccScopes, ccAudience []string
	credentials := &cobra.Command{Use: "client-credentials", Short: "Get an access token with the client-credentials grant (RFC 6749 §4.4)",
		Example: "  identityd perform client-credentials --endpoint http://localhost:8000 --client-id billing --client-secret-file billing.secret --scope service",
		Args:    cobra.NoArgs}
	cc.bind(credentials, "the client's secret")
	credentials.Flags().StringSliceVar(&ccScopes, "scope", nil, "scopes to ask for; repeat or comma-separate")
	credentials.Flags().StringSliceVar(&ccAudience, "audience", nil, "audiences (resource servers) the token is for")
	credentials.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		ep, err := c.issuer(cmd)
		if err != nil {
			return err
		}
		id, secret, err := cc.resolve(c, cmd)
		if err != nil {
			return err
		}
		if secret == "" {
			return errUsage{cmd.CommandPath() + ": missing --client-secret (or --client-secret-file, IDENTITY_CLIENT_SECRET)"}
		}
		tok, err := oauthcli.PerformClientCredentials(c.ctx, ep, oauthcli.ClientCredentials{ClientID: id, ClientSecret: secret,
			Scopes: ccScopes, Audience: ccAudience, AuthMethod: cc.authMethod})
		if err != nil {
			return protocolError(err)
		}
		return c.printValue(tok)
	})

	var ac clientFlags
	var acScopes, acAudience []string
	var port int
	var redirectURI, prompt, maxAge string
	var open bool
	code := &cobra.Command{Use: "authorization-code", Short: "Sign a person in with the authorization-code grant and PKCE through a loopback redirect, and print the tokens",
		Long: `perform authorization-code listens on a loopback address, prints the authorization URL to stderr
(and opens it with --open), waits for the browser to come back with the code, exchanges it
with PKCE (S256) and, with the openid scope, verifies the ID token and its nonce.

The client must have the redirect URI registered: http://127.0.0.1/callback (any port), or
the --redirect-uri given.`,
		Example: "  identityd perform authorization-code --endpoint http://localhost:8000 --client-id cli --scope openid,profile,offline_access --open",
		Args:    cobra.NoArgs}
	ac.bind(code, "the client's secret (none for a public client)")
	code.Flags().StringSliceVar(&acScopes, "scope", []string{"openid"}, "scopes to ask for; repeat or comma-separate")
	code.Flags().StringSliceVar(&acAudience, "audience", nil, "audiences (resource servers) the access token is for")
	code.Flags().IntVar(&port, "port", 0, "the loopback port to listen on (default: a free one)")
	code.Flags().StringVar(&redirectURI, "redirect-uri", "", "the redirect URI (default http://127.0.0.1:PORT/callback); http on a loopback address")
	code.Flags().StringVar(&prompt, "prompt", "", "OpenID Connect prompt: none, login or consent")
	code.Flags().StringVar(&maxAge, "max-age", "", "OpenID Connect max_age in seconds: sign in again if the session is older")
	code.Flags().BoolVar(&open, "open", false, "open the authorization URL in the system's browser")
	code.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		ep, err := c.issuer(cmd)
		if err != nil {
			return err
		}
		id, secret, err := ac.resolve(c, cmd)
		if err != nil {
			return err
		}
		extra := url.Values{}
		if maxAge != "" {
			if n, err := strconv.Atoi(maxAge); err != nil || n < 0 {
				return errUsage{"--max-age must be a number of seconds"}
			}
			extra.Set("max_age", maxAge)
		}
		in := oauthcli.AuthorizationCode{ClientID: id, ClientSecret: secret, AuthMethod: ac.authMethod, Scopes: acScopes,
			Audience: acAudience, Prompt: prompt, ExtraParams: extra, Port: port, RedirectURI: redirectURI, Out: c.stderr}
		if open {
			in.OpenBrowser = openInBrowser
		}
		tok, err := oauthcli.PerformAuthorizationCode(c.ctx, ep, in)
		if err != nil {
			return protocolError(err)
		}
		return c.printValue(tok)
	})
	perform.AddCommand(credentials, code)

	introspect := c.tokenCommand("introspect TOKEN", "Ask the server whether a token is active, and what it carries (RFC 7662)",
		`introspect asks the introspection endpoint about TOKEN ("-" reads it from stdin, keeping it out of
the process list), authenticating as a client of the token's tenant (or one allowed to introspect
every tenant's tokens). An inactive, unknown or foreign token answers {"active": false}.`,
		`  printf %s "$TOKEN" | identityd introspect - --endpoint http://localhost:8000 --client-id orders-api --client-secret-file orders-api.secret`,
		"the client's secret",
		func(ep oauthcli.Endpoint, id, secret, token, hint string) (any, error) {
			return oauthcli.Introspect(c.ctx, ep, id, secret, token, hint)
		})
	revoke := c.tokenCommand("revoke TOKEN", "Revoke an access or refresh token (RFC 7009) as the client it was issued to",
		`revoke revokes TOKEN ("-" reads it from stdin). Revoking a refresh token revokes the grant's access
tokens too. The server answers the same for a token it does not know (RFC 7009), so success only
says the request was accepted.`,
		`  printf %s "$TOKEN" | identityd revoke - --endpoint http://localhost:8000 --client-id billing --client-secret-file billing.secret`,
		"the client's secret (none for a public client)",
		func(ep oauthcli.Endpoint, id, secret, token, hint string) (any, error) {
			if err := oauthcli.Revoke(c.ctx, ep, id, secret, token, hint); err != nil {
				return nil, err
			}
			return map[string]any{"revoked": true}, nil
		})
	return []*cobra.Command{perform, introspect, revoke}
}

// tokenCommand is introspect and revoke: TOKEN (or - for stdin), the
// client's credentials and a token type hint.
func (c *cli) tokenCommand(use, short, long, example, secretHelp string,
	do func(ep oauthcli.Endpoint, id, secret, token, hint string) (any, error)) *cobra.Command {
	var cf clientFlags
	var hint string
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Example: example, Args: exactArgs(1)}
	cf.bind(cmd, secretHelp)
	cmd.Flags().StringVar(&hint, "token-type-hint", "", "access_token or refresh_token")
	cmd.RunE = c.runE(func(cmd *cobra.Command, args []string) error {
		ep, err := c.issuer(cmd)
		if err != nil {
			return err
		}
		if args[0] == "-" && cf.secretFile == "-" {
			return errUsage{"TOKEN and --client-secret-file cannot both be read from stdin"}
		}
		id, secret, err := cf.resolve(c, cmd)
		if err != nil {
			return err
		}
		token, err := c.tokenArg(args[0])
		if err != nil {
			return err
		}
		out, err := do(ep, id, secret, token, hint)
		if err != nil {
			return protocolError(err)
		}
		return c.printValue(out)
	})
	return cmd
}
