// Command client-credentials is a service that calls a protected API with
// client-credentials access tokens from identityd (RFC 6749 §4.4), using
// golang.org/x/oauth2/clientcredentials: one token is reused for every call
// until it is about to expire, then a new one is fetched, without the
// calling code noticing.
//
//	IDENTITY_ISSUER=http://localhost:8000 CLIENT_ID=orders-reporter CLIENT_SECRET_FILE=reporter.secret \
//	SCOPES=orders.read API_URL=http://127.0.0.1:8080/api/orders go run ./examples/client-credentials
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func main() {
	cfg, err := configFromEnv()
	if err == nil {
		err = run(context.Background(), cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client-credentials:", err)
		os.Exit(1)
	}
}

// Config is what the service needs.
type Config struct {
	Issuer       string // identityd's base URL
	ClientID     string
	ClientSecret string
	Scopes       []string
	APIURL       string // the protected API
	Calls        int    // how many times to call it
	Interval     time.Duration
}

func configFromEnv() (Config, error) {
	c := Config{
		Issuer:   strings.TrimSuffix(envOr("IDENTITY_ISSUER", "http://localhost:8000"), "/"),
		ClientID: os.Getenv("CLIENT_ID"),
		Scopes:   strings.FieldsFunc(os.Getenv("SCOPES"), func(r rune) bool { return r == ',' || r == ' ' }),
		APIURL:   envOr("API_URL", "http://127.0.0.1:8080/api/orders"),
		Calls:    3,
		Interval: time.Second,
	}
	c.ClientSecret = os.Getenv("CLIENT_SECRET")
	if f := os.Getenv("CLIENT_SECRET_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return c, fmt.Errorf("read CLIENT_SECRET_FILE: %w", err)
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return c, errors.New("set CLIENT_ID and CLIENT_SECRET (or CLIENT_SECRET_FILE)")
	}
	return c, nil
}

// Client is an HTTP client that sends a client-credentials access token
// with every request, reusing it until shortly before it expires
// (oauth2.ReuseTokenSource) and fetching a new one then. ctx carries the
// HTTP client for the token requests (oauth2.HTTPClient), if any.
func Client(ctx context.Context, c Config) *http.Client {
	cc := &clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		TokenURL:     c.Issuer + "/api/oauth/token",
		Scopes:       c.Scopes,
		AuthStyle:    oauth2.AuthStyleInHeader, // client_secret_basic
	}
	hc := cc.Client(ctx)
	hc.Timeout = 30 * time.Second
	return hc
}

// run calls the API c.Calls times, writing each answer to out.
func run(ctx context.Context, c Config, out io.Writer) error {
	hc := Client(ctx, c)
	for i := range c.Calls {
		if i > 0 {
			time.Sleep(c.Interval)
		}
		body, err := Call(ctx, hc, c.APIURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", body)
	}
	return nil
}

// Call gets url with hc and returns the body of a 200 answer. A token that
// identityd refused (a wrong secret, an unknown client, a scope the client
// may not have) comes back as an error naming identityd's error code.
func Call(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", url, err)
	}
	res, err := hc.Do(req)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("identityd refused the token request: %s (%s): check CLIENT_ID, CLIENT_SECRET and SCOPES", re.ErrorCode, re.ErrorDescription)
		}
		return nil, fmt.Errorf("call %s: %w", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %s", url, res.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
