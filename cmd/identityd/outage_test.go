package main

// The outage suite (issue 8, section 4): two instances on a PostgreSQL and a
// Redis of the test's own, under load, through every fault an operator meets
// — PostgreSQL stopped and frozen, Redis stopped, frozen, restarted empty, one
// instance cut off Redis — checking the 503s, the deadlines, the recovery,
// and that no token that got a 200 is lost (docs/operations.md).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/storage/storagetest"
)

// The deadlines the suite configures, and the bound it holds every request
// to: generous slack over the deadline, never a tight timing.
const (
	outageDBTimeout    = time.Second
	outageRedisTimeout = 200 * time.Millisecond
	// outageBound is the longest any request may take during a fault: the
	// database deadline, the wait for a slot, and slack for -race on two cores.
	outageBound = 10 * outageDBTimeout
	// outageFault is how long each fault lasts.
	outageFault = 2 * time.Second
)

// outageResult is one request of the load.
type outageResult struct {
	inst   int
	op     string // token, introspect, login
	status int
	err    error
	dur    time.Duration
	body   string
	retry  string // Retry-After
	token  string // the token issued (op token, status 200) or introspected
}

// outageRigForLogs is the running rig, whose logs a failed check prints.
var outageRigForLogs *outageRig

// outageRig is the suite's world: the services, two instances, one client.
type outageRig struct {
	t     *testing.T
	pg    *pgCluster
	redis *redisServer
	proxy *tcpProxy
	inst  [2]*apptest.Server
	env   *apptest.Env
	cc    *apptest.CreatedClient
	http  *http.Client
	// issued are the tokens that got a 200, in order.
	mu     sync.Mutex
	issued []string
}

func newOutageRig(t *testing.T) *outageRig {
	t.Helper()
	r := &outageRig{t: t, http: &http.Client{Timeout: 60 * time.Second}}
	r.pg = startPG(t)
	r.pg.CreateDB("identity")
	r.redis = startRedis(t)
	r.proxy = startProxy(t, r.redis.Addr())
	b := storagetest.Backend{Name: "postgres", URL: r.pg.URL("identity")}
	mutate := func(c *app.Config) {
		c.DBTimeout = outageDBTimeout
		c.RedisTimeout = outageRedisTimeout
		c.KeyReloadInterval = time.Second
		c.MaxInFlight = 8 // small, so a frozen database sheds load
	}
	// Instance 0 reaches Redis through the proxy (so it can be cut off);
	// instance 1 directly. Both share one prefix: one deployment.
	cfg0 := apptest.Config(t, apptest.Backend{Backend: b, RedisURL: r.proxy.URL()})
	cfg1 := apptest.Config(t, apptest.Backend{Backend: b, RedisURL: r.redis.URL()})
	r.inst[0] = apptest.Start(t, cfg0, mutate)
	r.inst[1] = apptest.Start(t, cfg1, func(c *app.Config) { mutate(c); c.Issuer = r.inst[0].URL })
	r.env = apptest.Seed(t, r.inst[0])
	r.cc = r.env.ServiceClient(t, nil)
	return r
}

// do sends one request to instance i and records the outcome.
func (r *outageRig) do(i int, op string, token string) outageResult {
	srv := r.inst[i]
	var req *http.Request
	switch op {
	case "token":
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(r.cc.Client.ID, r.cc.Secret)
	case "introspect", "revoke":
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/oauth/"+op, strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(r.cc.Client.ID, r.cc.Secret)
	case "login":
		body, _ := json.Marshal(map[string]string{"tenant": r.env.Tenant.Slug, "email": r.env.User.Email, "password": apptest.Password})
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/auth/login", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
	case "health":
		req, _ = http.NewRequest(http.MethodGet, srv.URL+"/api/health", nil)
	}
	start := time.Now()
	resp, err := r.http.Do(req)
	res := outageResult{inst: i, op: op, err: err, token: token}
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res.status, res.body, res.retry = resp.StatusCode, string(b), resp.Header.Get("Retry-After")
		if op == "token" && resp.StatusCode == http.StatusOK {
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(b, &tok)
			res.token = tok.AccessToken
			r.mu.Lock()
			r.issued = append(r.issued, tok.AccessToken)
			r.mu.Unlock()
		}
	}
	res.dur = time.Since(start)
	return res
}

// load runs workers on both instances (token, introspect, login in turn)
// until stop closes, and returns every outcome.
func (r *outageRig) load(stop <-chan struct{}) func() []outageResult {
	var (
		mu  sync.Mutex
		out []outageResult
		wg  sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := w % 2
			for n := 0; n < 400; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var res outageResult
				switch n % 3 {
				case 0:
					res = r.do(inst, "token", "")
				case 1:
					r.mu.Lock()
					tok := ""
					if len(r.issued) > 0 {
						tok = r.issued[(n*7+w)%len(r.issued)]
					}
					r.mu.Unlock()
					if tok == "" {
						continue
					}
					res = r.do(inst, "introspect", tok)
				default:
					res = r.do(inst, "login", "")
				}
				mu.Lock()
				out = append(out, res)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return func() []outageResult { wg.Wait(); return out }
}

// checkAnswers holds every answer to the rules that hold through any fault:
// within the bound; never a 500; a 503 is temporarily_unavailable with
// Retry-After; a valid client is never told invalid_client, a valid token
// never inactive, a valid password never wrong. allow503 lists the ops that
// may answer 503 in this fault.
func checkAnswers(t *testing.T, phase string, results []outageResult, allow503 ...string) (ok, unavailable int) {
	t.Helper()
	defer func() {
		if t.Failed() && outageRigForLogs != nil {
			for i, srv := range outageRigForLogs.inst {
				for _, l := range strings.Split(srv.Logs.String(), "\n") {
					if strings.Contains(l, `"level":"ERROR"`) && !strings.Contains(l, "dependency unavailable") && !strings.Contains(l, "cache invalidation") {
						t.Logf("instance %d: %s", i, l)
					}
				}
			}
		}
	}()
	for _, res := range results {
		where := fmt.Sprintf("%s: instance %d %s", phase, res.inst, res.op)
		if res.err != nil {
			t.Errorf("%s: transport error %v", where, res.err)
			continue
		}
		if res.dur > outageBound {
			t.Errorf("%s took %s, above the bound %s", where, res.dur, outageBound)
		}
		switch {
		case res.status == http.StatusOK:
			ok++
			if res.op == "introspect" && res.token != "" && !strings.Contains(res.body, `"active":true`) {
				t.Errorf("%s: a token that got a 200 introspects %s", where, res.body)
			}
		case res.status == http.StatusServiceUnavailable:
			unavailable++
			allowed := false
			for _, op := range allow503 {
				allowed = allowed || op == res.op
			}
			if !allowed {
				t.Errorf("%s: 503 %s, but this fault must not stop it", where, res.body)
			}
			if res.retry == "" || !strings.Contains(res.body, "temporarily_unavailable") {
				t.Errorf("%s: 503 without Retry-After or temporarily_unavailable: %q %s", where, res.retry, res.body)
			}
		default:
			t.Errorf("%s: %d %s", where, res.status, res.body)
		}
	}
	return ok, unavailable
}

// recovered waits until both instances issue tokens and log in again.
func (r *outageRig) recovered(phase string) {
	r.t.Helper()
	for i := range r.inst {
		var last outageResult
		defer func() {
			if r.t.Failed() {
				r.t.Logf("%s: instance %d last answered %s %d %s %v", phase, i, last.op, last.status, last.body, last.err)
				lines := strings.Split(r.inst[i].Logs.String(), "\n")
				for _, l := range lines[max(0, len(lines)-400):] {
					if strings.Contains(l, "unavailable") || strings.Contains(l, "breaker") {
						r.t.Log(l)
					}
				}
			}
		}()
		waitFor(r.t, 30*time.Second, phase+": instance recovers", func() bool {
			for _, op := range []string{"token", "login"} {
				if last = r.do(i, op, ""); last.status != http.StatusOK {
					return false
				}
			}
			return true
		})
	}
}

// noTokenLost checks every token that got a 200 (and was not revoked) is
// active on both instances.
func (r *outageRig) noTokenLost(phase string, revoked map[string]bool) {
	r.t.Helper()
	r.mu.Lock()
	issued := append([]string(nil), r.issued...)
	r.mu.Unlock()
	for n, tok := range issued {
		if revoked[tok] {
			continue
		}
		res := r.do(n%2, "introspect", tok)
		if res.status != http.StatusOK || !strings.Contains(res.body, `"active":true`) {
			r.t.Errorf("%s: token %d of %d that got a 200 is not active after recovery: %d %s", phase, n, len(issued), res.status, res.body)
		}
	}
}

// health asks instance i for /api/health and returns the failing checks.
func (r *outageRig) health(i int) (time.Duration, []string) {
	res := r.do(i, "health", "")
	var h struct {
		Checks map[string]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	_ = json.Unmarshal([]byte(res.body), &h)
	var failed []string
	for name, c := range h.Checks {
		if c.Status != "ok" {
			failed = append(failed, name)
		}
	}
	return res.dur, failed
}

func TestOutageSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the outage suite starts its own PostgreSQL and Redis")
	}
	r := newOutageRig(t)
	outageRigForLogs = r
	defer func() { outageRigForLogs = nil }()
	revoked := map[string]bool{}

	// Warm up: tokens on both instances, introspected (so cached) on both.
	for i := 0; i < 10; i++ {
		res := r.do(i%2, "token", "")
		require.Equal(t, http.StatusOK, res.status, res.body)
		for j := range r.inst {
			require.Contains(t, r.do(j, "introspect", res.token).body, `"active":true`)
		}
	}

	// dbFault runs one database fault under load.
	dbFault := func(t *testing.T, name string, lastResort bool, fault, heal func()) {
		// A token and a resource server that instance 1 has just cached
		// (fresh, well inside LookupEntryMaxAge): while the database cannot
		// answer, the cache does (its last resort), so with lastResort this
		// introspection keeps working through the fault. (A frozen database
		// holds the in-flight slots, so there it may be shed instead.)
		rs := r.env.ServiceClient(t, nil)
		fresh := r.do(1, "token", "")
		require.Equal(t, http.StatusOK, fresh.status, fresh.body)
		introspectAs := func(cc *apptest.CreatedClient, token string) (int, string) {
			form := url.Values{"token": {token}}
			res := apptest.PostForm(t, r.inst[1].URL+"/api/oauth/introspect", form, cc.Client.ID, cc.Secret)
			return res.Status, string(res.Body)
		}
		status, body := introspectAs(rs, fresh.token)
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, `"active":true`)
		stop := make(chan struct{})
		wait := r.load(stop)
		time.Sleep(300 * time.Millisecond)
		fault()
		if lastResort {
			// Not with require: the fault must still be healed.
			if status, body = introspectAs(rs, fresh.token); status != http.StatusOK || !strings.Contains(body, `"active":true`) {
				t.Errorf("a freshly cached token during %s: %d %s, want 200 active", name, status, body)
			}
		}
		// During the fault: a fresh token's issuance, a revocation, a login
		// and an uncached introspection answer 503, never a false negative.
		victim := r.issued[len(r.issued)-1]
		res := r.do(1, "revoke", victim)
		if res.status == http.StatusOK {
			// Only possible if the database answered: then it is revoked.
			revoked[victim] = true
		} else {
			require.Equal(t, http.StatusServiceUnavailable, res.status, "revocation during %s: %s", name, res.body)
			require.NotEmpty(t, res.retry, "revocation 503 has Retry-After")
			require.Contains(t, res.body, "temporarily_unavailable")
		}
		require.LessOrEqual(t, res.dur, outageBound, "revocation during %s", name)
		for _, op := range []string{"token", "login"} {
			res := r.do(0, op, "")
			require.Equal(t, http.StatusServiceUnavailable, res.status, "%s during %s: %s", op, name, res.body)
			require.LessOrEqual(t, res.dur, outageBound)
		}
		d, failed := r.health(1)
		require.LessOrEqual(t, d, 3*time.Second, "health answers within its own deadline")
		require.Equal(t, []string{"database"}, failed, "health names only the database")
		time.Sleep(outageFault)
		heal()
		close(stop)
		ok, unavailable := checkAnswers(t, name, dropRevoked(wait(), revoked), "token", "introspect", "login")
		t.Logf("%s: %d answered 200, %d answered 503", name, ok, unavailable)
		require.Positive(t, unavailable, "the fault was felt")
		r.recovered(name)
		if res.status != http.StatusOK {
			// The revocation that got a 503 did not happen or may have: the
			// client retries, and then it holds on both instances.
			res = r.do(1, "revoke", victim)
			require.Equal(t, http.StatusOK, res.status, res.body)
			revoked[victim] = true
		}
		for i := range r.inst {
			require.Equal(t, `{"active":false}`, strings.TrimSpace(r.do(i, "introspect", victim).body), "revoked token on instance %d", i)
		}
		r.noTokenLost(name, revoked)
	}

	t.Run("postgres stopped", func(t *testing.T) {
		dbFault(t, "postgres stopped", true, r.pg.Stop, r.pg.Start)
	})
	t.Run("postgres frozen", func(t *testing.T) {
		dbFault(t, "postgres frozen", false, func() {
			r.pg.signalAll(syscall.SIGSTOP)
			// A burst far above the in-flight bound: every request returns
			// within the bound, and the excess is shed rather than queued.
			var wg sync.WaitGroup
			burst := make([]outageResult, 40)
			for i := range burst {
				wg.Add(1)
				go func() { defer wg.Done(); burst[i] = r.do(1, "token", "") }()
			}
			wg.Wait()
			for _, res := range burst {
				require.NoError(t, res.err)
				require.Equal(t, http.StatusServiceUnavailable, res.status, res.body)
				require.LessOrEqual(t, res.dur, outageBound)
			}
			require.Contains(t, r.inst[1].Logs.String(), "load shed", "requests above IDENTITY_MAX_INFLIGHT are shed")
		}, func() { r.pg.signalAll(syscall.SIGCONT) })
	})

	// redisFault runs one Redis fault under load: client credentials and
	// introspection keep serving from the database; logins fail closed (the
	// rate limiter cannot count) with 503; nothing waits for Redis.
	redisFault := func(t *testing.T, name string, fault, heal func()) {
		stop := make(chan struct{})
		wait := r.load(stop)
		time.Sleep(300 * time.Millisecond)
		fault()
		time.Sleep(outageFault)
		d, failed := r.health(1)
		require.LessOrEqual(t, d, 3*time.Second, "health answers within its own deadline")
		require.NotContains(t, failed, "database", "health does not blame the database for Redis")
		require.Contains(t, failed, "redis")
		heal()
		close(stop)
		ok, unavailable := checkAnswers(t, name, dropRevoked(wait(), revoked), "login")
		t.Logf("%s: %d answered 200, %d answered 503", name, ok, unavailable)
		r.recovered(name)
		r.noTokenLost(name, revoked)
	}
	t.Run("redis stopped", func(t *testing.T) {
		redisFault(t, "redis stopped", r.redis.Stop, r.redis.Start)
	})
	t.Run("redis frozen", func(t *testing.T) {
		redisFault(t, "redis frozen", func() { r.redis.Signal(syscall.SIGSTOP) }, func() { r.redis.Signal(syscall.SIGCONT) })
	})

	// Redis restarted empty: Redis is not on the lookup cache's path (its
	// invalidations travel through PostgreSQL), so a revocation made on
	// instance 0 after the restart reaches instance 1's cache as before.
	t.Run("redis restarted empty", func(t *testing.T) {
		tok := r.do(0, "token", "").token
		require.NotEmpty(t, tok)
		require.Contains(t, r.do(1, "introspect", tok).body, `"active":true`)
		r.redis.Stop()
		r.redis.Start()
		r.recovered("redis restarted")
		res := r.do(0, "revoke", tok)
		require.Equal(t, http.StatusOK, res.status, res.body)
		revoked[tok] = true
		require.Equal(t, `{"active":false}`, strings.TrimSpace(r.do(0, "introspect", tok).body))
		waitFor(t, 10*time.Second, "instance 1 sees the revocation", func() bool {
			return strings.TrimSpace(r.do(1, "introspect", tok).body) == `{"active":false}`
		})
	})

	// One instance cut off Redis revokes a token that the other has cached:
	// the revocation is committed (200), and its invalidation reaches the
	// other instance through PostgreSQL while the cut lasts. Only the cut
	// instance's logins stop (its rate limiter cannot count).
	t.Run("one instance cut off redis", func(t *testing.T) {
		tok := r.do(0, "token", "").token
		require.NotEmpty(t, tok)
		for i := range r.inst {
			require.Contains(t, r.do(i, "introspect", tok).body, `"active":true`)
		}
		stop := make(chan struct{})
		wait := r.load(stop)
		r.proxy.Cut()
		res := r.do(0, "revoke", tok)
		require.Equal(t, http.StatusOK, res.status, "the revocation is in the database: %s", res.body)
		revoked[tok] = true
		require.Equal(t, `{"active":false}`, strings.TrimSpace(r.do(0, "introspect", tok).body), "the revoking instance sees it at once")
		waitFor(t, 10*time.Second, "instance 1 sees the revocation during the cut", func() bool {
			return strings.TrimSpace(r.do(1, "introspect", tok).body) == `{"active":false}`
		})
		time.Sleep(outageFault)
		r.proxy.Heal()
		close(stop)
		checkAnswers(t, "partition", dropRevoked(wait(), revoked), "login")
		r.recovered("partition")
		for i := range r.inst {
			require.Equal(t, `{"active":false}`, strings.TrimSpace(r.do(i, "introspect", tok).body))
		}
		r.noTokenLost("partition", revoked)
	})
}

// dropRevoked removes introspections of tokens revoked during the phase:
// their answer legitimately changes from active to inactive.
func dropRevoked(results []outageResult, revoked map[string]bool) []outageResult {
	out := results[:0]
	for _, res := range results {
		if res.op == "introspect" && revoked[res.token] {
			continue
		}
		out = append(out, res)
	}
	return out
}
