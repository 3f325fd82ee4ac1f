package handlers_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// scrape reads GET path (the Prometheus text format) into series → value,
// the series spelt as the exposition writes it: name{label="v",...} with
// the labels in name order.
func scrape(t *testing.T, base, token string) map[string]float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/metrics", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "metrics line %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, "metrics line %q", line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// delta is after[k] - before[k] for each series k.
func delta(before, after map[string]float64, k string) float64 { return after[k] - before[k] }

// metricsSequence runs a known sequence of requests against e and returns
// the metrics scraped before and after it; the exact deltas it causes are
// checked by TestMetricsCountKnownSequence.
type metricsRun struct {
	before, afterTokens, after map[string]float64
	lockedUser                 string
}

// metricsConfig: a lockout after 3 failures and 4 login attempts per
// (IP, account) pair, so the sequence below locks one account and is then
// rate limited on it.
func metricsConfig(c *app.Config) {
	c.LockoutThreshold = 3
	c.RateLogin = identity.Limit{Name: "login", Rate: 4, Period: time.Minute}
}

func runMetricsSequence(t *testing.T, e *apptest.Env) metricsRun {
	t.Helper()
	ctx := t.Context()
	var run metricsRun
	svc := e.ServiceClient(t, nil)
	rs := e.ServiceClient(t, nil)
	run.before = scrape(t, e.URL, "")

	// Three client-credentials tokens: the first compares the secret with
	// bcrypt (a miss), the next two find it verified (hits).
	var tok *oauth2.Token
	for range 3 {
		var err error
		tok, err = e.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
		require.NoError(t, err)
	}
	run.afterTokens = scrape(t, e.URL, "")

	// Two active introspections, one inactive, one refused caller.
	e.RequireActive(t, rs, tok.AccessToken)
	e.RequireActive(t, rs, tok.AccessToken)
	e.RequireInactive(t, rs, "ory_at_not-a-token.not-a-signature")
	res := apptest.PostForm(t, e.URL+"/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}, rs.Client.ID, "wrong-secret")
	require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)

	// One successful and one failed login of Ada.
	require.Equal(t, http.StatusOK, e.PasswordLogin(t, e.Tenant.Slug, e.User.Email, apptest.Password, nil).Status)
	require.Equal(t, http.StatusUnauthorized, e.PasswordLogin(t, e.Tenant.Slug, e.User.Email, "wrong password", nil).Status)

	// Bob: three wrong passwords lock him (the third locks), the right one
	// is told he is locked, the fifth attempt is over the pair's budget.
	bob := e.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "bob." + e.Tenant.Slug + "@example.com", Password: apptest.Password, Name: "Bob"})
	run.lockedUser = bob.Email
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, e.PasswordLogin(t, e.Tenant.Slug, bob.Email, "wrong password", nil).Status)
	}
	res = e.PasswordLogin(t, e.Tenant.Slug, bob.Email, apptest.Password, nil)
	require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
	require.Equal(t, "account_locked", res.Str("error"), "%s", res.Body)
	res = e.PasswordLogin(t, e.Tenant.Slug, bob.Email, apptest.Password, nil)
	require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
	require.Equal(t, "rate_limited", res.Str("error"), "%s", res.Body)

	// Two requests to a route with an id in its path, one to no route.
	for range 2 {
		require.Equal(t, http.StatusUnauthorized, e.Call(t, http.MethodGet, "/api/users/"+uuid.NewString(), "", nil).Status)
	}
	require.Equal(t, http.StatusNotFound, e.Call(t, http.MethodGet, "/api/no-such-route/"+e.User.Email, "", nil).Status)
	run.after = scrape(t, e.URL, "")
	return run
}

// TestMetricsCountKnownSequence: after a known sequence of requests the
// counters moved by exactly what the sequence did.
func TestMetricsCountKnownSequence(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, metricsConfig)
		r := runMetricsSequence(t, e)
		exact := func(series string, want float64, before, after map[string]float64) {
			t.Helper()
			require.Equal(t, want, delta(before, after, series), "%s", series)
		}
		exact(`identity_tokens_issued_total{client_kind="confidential",grant_type="client_credentials"}`, 3, r.before, r.after)
		exact(`identity_cache_lookups_total{cache="verified_secret",result="miss"}`, 1, r.before, r.afterTokens)
		exact(`identity_cache_lookups_total{cache="verified_secret",result="hit"}`, 2, r.before, r.afterTokens)
		exact(`identity_introspections_total{result="active"}`, 2, r.before, r.after)
		exact(`identity_introspections_total{result="inactive"}`, 1, r.before, r.after)
		exact(`identity_introspections_total{result="error"}`, 1, r.before, r.after)
		exact(`identity_logins_total{outcome="success"}`, 1, r.before, r.after)
		exact(`identity_logins_total{outcome="failure"}`, 4, r.before, r.after)
		exact(`identity_logins_total{outcome="locked"}`, 1, r.before, r.after)
		exact(`identity_logins_total{outcome="rate_limited"}`, 1, r.before, r.after)
		exact(`identity_lockouts_total`, 1, r.before, r.after)
		exact(`identity_rate_limited_total{limit="login"}`, 1, r.before, r.after)
		exact(`identity_http_requests_total{method="GET",route="/api/users/:id",status="401"}`, 2, r.before, r.after)
		exact(`identity_http_requests_total{method="GET",route="unmatched",status="404"}`, 1, r.before, r.after)
		exact(`identity_http_requests_total{method="POST",route="/api/auth/login",status="429"}`, 2, r.before, r.after)
		exact(`identity_http_request_duration_seconds_count{method="POST",route="/api/oauth/token"}`, 3, r.before, r.after)

		// The lookup cache saw every introspected token's lookup (hit or
		// miss; a repeat is a hit). SQLite beside Redis (several instances
		// on one file) runs without it, and then it counts nothing.
		hits := delta(r.afterTokens, r.after, `identity_cache_lookups_total{cache="token_lookup",result="hit"}`)
		misses := delta(r.afterTokens, r.after, `identity_cache_lookups_total{cache="token_lookup",result="miss"}`)
		if b.Name == "sqlite" && b.RedisURL != "" {
			require.Zero(t, hits+misses, "the lookup cache is off on SQLite with REDIS_URL")
		} else {
			require.Positive(t, hits)
			require.GreaterOrEqual(t, hits+misses, 3.0)
		}

		// The database: every call timed, the pool's statistics exported.
		require.Positive(t, delta(r.before, r.after, `identity_db_call_duration_seconds_count{operation="query"}`))
		require.Positive(t, delta(r.before, r.after, `identity_db_call_duration_seconds_count{operation="create"}`))
		require.Contains(t, r.after, `go_sql_max_open_connections{db_name="identity"}`)
		// The backlog gauges: Bob's lock notice is queued mail at least
		// until the mail worker sends it; the events of the logins wait
		// for the webhook fan-out (no dispatcher runs here).
		require.Contains(t, r.after, `identity_mail_queue_depth`)
		require.Positive(t, r.after[`identity_outbox_events{state="undispatched"}`])
		require.Contains(t, r.after, `identity_outbox_oldest_event_age_seconds{state="undispatched"}`)
		// No broker is configured: nothing is ever published, so there is
		// no unpublished backlog to report.
		require.NotContains(t, r.after, `identity_outbox_events{state="unpublished"}`)
		if b.RedisURL != "" {
			require.Positive(t, delta(r.before, r.after, `identity_redis_call_duration_seconds_count{command="evalsha"}`)+
				delta(r.before, r.after, `identity_redis_call_duration_seconds_count{command="eval"}`), "rate limits run Lua scripts in Redis")
			require.Contains(t, r.after, `identity_redis_pool_connections`)
		} else {
			require.NotContains(t, r.after, `identity_redis_pool_connections`)
		}
	})
}

var (
	uuidRE  = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	tokenRE = regexp.MustCompile(`[A-Za-z0-9]{20,}`)
	labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// TestMetricsLabelsAreBounded: after an end-to-end sequence (tokens,
// introspections, logins, a lockout, ids and an e-mail address in paths),
// no label value of any series holds an '@', a UUID, more than 64
// characters or anything that looks like a token.
func TestMetricsLabelsAreBounded(t *testing.T) {
	t.Parallel()
	e := apptest.NewEnv(t, apptest.SQLite(t), metricsConfig)
	r := runMetricsSequence(t, e)
	token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
	for _, p := range []string{"/api/devices/" + uuid.NewString(), "/api/sessions/" + uuid.NewString()} {
		e.Call(t, http.MethodDelete, p, token, nil)
	}
	e.Call(t, http.MethodGet, "/api/auth/me", token, nil)
	e.Call(t, http.MethodGet, "/"+token, "", nil)
	after := scrape(t, e.URL, "")
	require.Greater(t, len(after), len(r.before)/2)
	checked := 0
	for series := range after {
		for _, m := range labelRE.FindAllStringSubmatch(series, -1) {
			v := m[2]
			checked++
			bad := strings.Contains(v, "@") || uuidRE.MatchString(v) || len(v) > 64 || tokenRE.MatchString(v)
			require.False(t, bad, "series %s: label %s=%q carries an unbounded value", series, m[1], v)
		}
	}
	require.Greater(t, checked, 50, "the check read too few labels")
	// The check can fail: a token or an e-mail address as a label is seen.
	for _, v := range []string{e.User.Email, token, uuid.NewString()} {
		require.True(t, strings.Contains(v, "@") || uuidRE.MatchString(v) || len(v) > 64 || tokenRE.MatchString(v), v)
	}
}

// TestMetricsToken: with IDENTITY_METRICS_TOKEN set, /metrics answers 401
// without the bearer or with a wrong one, and the registry with it.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) { c.MetricsToken = "scrape-me-0123456789" })
	for _, h := range []string{"", "Bearer wrong", "Bearer scrape-me-012345678", "Basic scrape-me-0123456789", "scrape-me-0123456789"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
		require.NoError(t, err)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "Authorization %q", h)
	}
	m := scrape(t, srv.URL, "scrape-me-0123456789")
	require.Contains(t, m, `identity_http_requests_total{method="GET",route="/metrics",status="401"}`)
}

// TestMetricsDisabled: IDENTITY_METRICS_ENABLED=0 records nothing and
// /metrics answers 404.
func TestMetricsDisabled(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) { c.MetricsEnabled = false })
	require.Nil(t, srv.Metrics)
	require.Equal(t, http.StatusNotFound, srv.Call(t, http.MethodGet, "/metrics", "", nil).Status)
	require.Equal(t, http.StatusOK, srv.Call(t, http.MethodGet, "/api/health/live", "", nil).Status)
}

// TestMetricsSeparateAddress: with IDENTITY_METRICS_ADDR set the main
// listener has no /metrics; the operations handler serves it and the probes.
func TestMetricsSeparateAddress(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) { c.MetricsAddr = "127.0.0.1:1"; c.MetricsToken = "ops-token-0123456789" })
	require.Equal(t, http.StatusNotFound, srv.Call(t, http.MethodGet, "/metrics", "", nil).Status)
	require.Equal(t, http.StatusNotFound, srv.Do(t, apptest.Request{Method: http.MethodGet, Path: "/metrics", Token: "ops-token-0123456789"}).Status)
	ops := httptestServer(t, srv.OpsHandler())
	m := scrape(t, ops, "ops-token-0123456789")
	require.Contains(t, m, `identity_http_requests_total{method="GET",route="/metrics",status="404"}`)
	for _, p := range []string{"/api/health/live", "/api/health/ready", "/api/health"} {
		res, err := apptest.Send(ops, apptest.Request{Method: http.MethodGet, Path: p})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.Status, "%s: %s", p, res.Body)
	}
	res, err := apptest.Send(ops, apptest.Request{Method: http.MethodGet, Path: "/api/users"})
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, res.Status, "the operations listener serves nothing else")
}

// httptestServer serves h for the test and returns its base URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestOpsHealthIsTheMainHealth: the operations listener's /api/health runs
// the very checks of the main listener's, the optional ones included (here
// the broker's, configured at an address where none answers).
func TestOpsHealthIsTheMainHealth(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) {
		c.MetricsAddr = "127.0.0.1:1"
		c.RabbitMQURLs = []app.Secret{"amqp://guest:guest@127.0.0.1:1/"}
	})
	_, main := probeAny(t, srv.URL)
	_, ops := probeAny(t, httptestServer(t, srv.OpsHandler()))
	require.Contains(t, checkNames(main), "rabbitmq")
	require.Equal(t, checkNames(main), checkNames(ops))
}

// probeAny GETs /api/health at base, whatever its status.
func probeAny(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	res, err := apptest.Send(base, apptest.Request{Method: http.MethodGet, Path: "/api/health"})
	require.NoError(t, err)
	return res.Status, res.JSON(t)
}
