package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
)

// ctProduction sets the documented client-authentication failure budget.
func ctProduction(cfg *app.Config) {
	cfg.RateClientAuthFailures = identity.Limit{Name: "client_auth", Rate: 10, Period: time.Minute}
}

// ctPost posts a client-credentials style form with Basic credentials,
// safe to call from any goroutine; status 0 is a transport error.
func ctPost(target, id, secret string, form url.Values) (int, http.Header, string) {
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, b.String()
}

var ctGrant = url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}}

// TestClientAuthFailuresThrottled: the (N+1)th wrong secret for a client id
// within the budget's period gets 429 slow_down with Retry-After, at the
// token, introspection and revocation endpoints; wrong secrets across many
// client ids from one address are throttled per IP; a correct client whose
// secret is verified keeps getting tokens.
func TestClientAuthFailuresThrottled(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, ctProduction, func(t *testing.T, e *accountEnv) {
		good := e.ServiceClient(t, nil)
		tokenURL := e.Server.URL + "/api/oauth/token"
		st, _, body := ctPost(tokenURL, good.Client.ID, good.Secret, ctGrant)
		require.Equal(t, http.StatusOK, st, "the correct client: %s", body)

		t.Run("per client id", func(t *testing.T) {
			bad := e.ServiceClient(t, nil)
			for i := 1; i <= 10; i++ {
				st, _, body := ctPost(tokenURL, bad.Client.ID, "wrong-secret-"+strconv.Itoa(i), ctGrant)
				require.Equal(t, http.StatusUnauthorized, st, "wrong secret %d: %s", i, body)
				require.Contains(t, body, "invalid_client")
			}
			for _, ep := range []string{"/api/oauth/token", "/api/oauth/introspect", "/api/oauth/revoke"} {
				st, h, body := ctPost(e.Server.URL+ep, bad.Client.ID, "wrong-secret-11", url.Values{"token": {"x"}, "grant_type": {"client_credentials"}})
				require.Equal(t, http.StatusTooManyRequests, st, "%s after the budget: %s", ep, body)
				require.Contains(t, body, `"error":"slow_down"`, "RFC 6749 JSON error body")
				secs, err := strconv.Atoi(h.Get("Retry-After"))
				require.NoError(t, err, "Retry-After")
				require.Greater(t, secs, 0)
			}
			// Another client is not affected.
			st, _, body := ctPost(tokenURL, good.Client.ID, good.Secret, ctGrant)
			require.Equal(t, http.StatusOK, st, "another client: %s", body)
		})
	})
	// Per IP: wrong secrets for 10 different clients from one address.
	eachAccountEnv(t, ctProduction, func(t *testing.T, e *accountEnv) {
		tokenURL := e.Server.URL + "/api/oauth/token"
		good := e.ServiceClient(t, nil)
		st, _, body := ctPost(tokenURL, good.Client.ID, good.Secret, ctGrant)
		require.Equal(t, http.StatusOK, st, "%s", body)
		for i := 1; i <= 10; i++ {
			c := e.ServiceClient(t, nil)
			st, _, body := ctPost(tokenURL, c.Client.ID, "wrong", ctGrant)
			require.Equal(t, http.StatusUnauthorized, st, "client %d: %s", i, body)
		}
		c := e.ServiceClient(t, nil)
		st, _, body = ctPost(tokenURL, c.Client.ID, "wrong", ctGrant)
		require.Equal(t, http.StatusTooManyRequests, st, "the 11th failure from the address: %s", body)
		// The verified secret of a correct client never meets the gate.
		st, _, body = ctPost(tokenURL, good.Client.ID, good.Secret, ctGrant)
		require.Equal(t, http.StatusOK, st, "a verified client from the same address: %s", body)
	})
}

// TestClientAuthFloodDoesNotStarve: 40 concurrent wrong secrets (budgets
// out of the way) cannot starve a correct client: bcrypt for unverified
// secrets runs in a bounded number of slots and the rest are refused at
// once, while the correct client's verified secret needs no slot.
func TestClientAuthFloodDoesNotStarve(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		// Real bcrypt cost for client secrets: a wrong secret costs time.
		good := e.ServiceClient(t, nil)
		bad := e.ServiceClient(t, nil)
		tokenURL := e.Server.URL + "/api/oauth/token"
		st, _, body := ctPost(tokenURL, good.Client.ID, good.Secret, ctGrant)
		require.Equal(t, http.StatusOK, st, "%s", body)

		var wg sync.WaitGroup
		statuses := make(chan int, 40)
		start := make(chan struct{})
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				st, _, _ := ctPost(tokenURL, bad.Client.ID, "wrong-"+strconv.Itoa(i), ctGrant)
				statuses <- st
			}(i)
		}
		done := make(chan struct{})
		goodResults := make(chan int, 1000)
		go func() {
			defer close(goodResults)
			for {
				select {
				case <-done:
					return
				default:
				}
				st, _, _ := ctPost(tokenURL, good.Client.ID, good.Secret, ctGrant)
				goodResults <- st
			}
		}()
		close(start)
		wg.Wait()
		close(done)
		close(statuses)
		n := 0
		for st := range goodResults {
			n++
			require.Equal(t, http.StatusOK, st, "the correct client during the flood")
		}
		require.Greater(t, n, 0, "the correct client was served during the flood")
		counts := map[int]int{}
		for st := range statuses {
			counts[st]++
		}
		require.Equal(t, 40, counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests], "wrong secrets get 401 or 429: %v", counts)
	})
}
