package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/oauth"
)

// seedExpiredTokens stores n expired access tokens of cc's tenant, in one
// transaction, as the token endpoint would have.
func seedExpiredTokens(t *testing.T, srv *apptest.Server, tenantID, clientID string, n int) {
	t.Helper()
	ctx := t.Context()
	client, err := srv.Store.GetClient(ctx, clientID)
	require.NoError(t, err)
	past := time.Now().Add(-2 * time.Hour)
	require.NoError(t, srv.Store.InTx(ctx, func(ctx context.Context) error {
		for range n {
			sess := oauth.NewClientSession(srv.Config.Issuer, tenantID, clientID)
			sess.SetExpiresAt(fosite.AccessToken, past.Add(time.Hour))
			req := fosite.NewRequest()
			req.ID = apptest.RandomID(t, 20)
			req.Client = client
			req.RequestedAt = past
			req.Session = sess
			if err := srv.Store.CreateAccessTokenSession(ctx, "expired-"+req.ID, req); err != nil {
				return err
			}
		}
		return nil
	}))
}

// TestPruneDuringIssuance prunes thousands of expired tokens in small
// batches while clients keep getting tokens: no issuance fails, the prune
// deletes exactly the expired rows, and the new tokens stay active.
func TestPruneDuringIssuance(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := apptest.NewEnv(t, b, nil)
		srv := env.Server
		cc := env.ServiceClient(t, nil)
		intro := env.ServiceClient(t, nil)
		const expired = 6000
		seedExpiredTokens(t, srv, env.Tenant.ID, cc.Client.ID, expired)
		live := ccToken(t, srv, cc)
		require.Equal(t, http.StatusOK, live.Status, "%s", live.Body)

		var (
			stop    atomic.Bool
			issued  atomic.Int64
			mu      sync.Mutex
			fails   []string
			tokens  []string
			wg      sync.WaitGroup
			started = make(chan struct{}, 4)
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for !stop.Load() || first {
					res := tokenRequestNoT(srv, cc)
					if first {
						started <- struct{}{}
						first = false
					}
					mu.Lock()
					if res.err != nil || res.status != http.StatusOK {
						fails = append(fails, res.String())
					} else {
						tokens = append(tokens, res.token)
					}
					mu.Unlock()
					issued.Add(1)
				}
			}()
		}
		for range 4 {
			<-started
		}
		res, err := srv.PruneTokens(t, 250)
		// Keep issuing a little after the prune, then stop.
		time.Sleep(50 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		require.NoError(t, err)
		require.Empty(t, fails, "token issuance failed during the prune")
		require.Positive(t, issued.Load())
		require.EqualValues(t, expired, res.Deleted["oauth_access_tokens"], "%v", res)
		require.EqualValues(t, expired, res.Total)
		srv.RequireActive(t, intro, live.JSON(t)["access_token"].(string))
		for _, tok := range []string{tokens[0], tokens[len(tokens)/2], tokens[len(tokens)-1]} {
			srv.RequireActive(t, intro, tok)
		}
		t.Logf("%s: pruned %d rows while issuing %d tokens", b.Name, res.Total, issued.Load())
	})
}

type rawToken struct {
	status int
	token  string
	body   string
	err    error
}

func (r rawToken) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return http.StatusText(r.status) + ": " + r.body
}

// tokenRequestNoT fetches a client-credentials token without a *testing.T,
// for goroutines.
func tokenRequestNoT(srv *apptest.Server, cc *apptest.CreatedClient) rawToken {
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/oauth/token", strings.NewReader("grant_type=client_credentials&scope=orders.read"))
	if err != nil {
		return rawToken{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cc.Client.ID, cc.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawToken{err: err}
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return rawToken{status: resp.StatusCode, token: body.AccessToken, body: string(raw)}
}

// TestPrunerLease runs the background job's RunOnce on two instances of
// one deployment at the same moment: exactly one runs the prunes.
func TestPrunerLease(t *testing.T) {
	t.Parallel()
	for _, b := range apptest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			cfg := apptest.Config(t, b)
			cfg.PruneInterval = time.Hour
			first := apptest.Start(t, cfg, nil)
			second := apptest.Start(t, apptest.Config(t, b), func(c *app.Config) { c.PruneInterval = time.Hour })
			var ran atomic.Int32
			var wg sync.WaitGroup
			for _, srv := range []*apptest.Server{first, second, first, second} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := srv.RunPrunerOnce(t, time.Hour)
					if err != nil {
						t.Errorf("RunOnce: %v", err)
					}
					if ok {
						ran.Add(1)
					}
				}()
			}
			wg.Wait()
			require.EqualValues(t, 1, ran.Load(), "one instance at a time")
			lease, err := first.Store.GetLease(t.Context(), identity.PruneLease)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now().Add(54*time.Minute), lease.LeasedUntil, time.Minute, "the lease lasts 90%% of the interval")
		})
	}
}
