package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// TestLoginThroughput measures POST /api/auth/login against a real server
// with bcrypt at cost 12, from 2×GOMAXPROCS workers for 10 s, next to its
// bound: bcrypt-12 comparisons per second with the same parallelism. It is a
// measurement, run by hand (docs/benchmarks.md):
//
//	IDENTITY_BENCH=1 go test ./handlers -run TestLoginThroughput -count=1 -v
func TestLoginThroughput(t *testing.T) {
	if os.Getenv("IDENTITY_BENCH") != "1" {
		t.Skip("a 10 s measurement per backend; set IDENTITY_BENCH=1 to run it")
	}
	duration := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("IDENTITY_BENCH_DURATION")); err == nil && d > 0 {
		duration = d
	}
	workers := 2 * runtime.GOMAXPROCS(0)
	for _, b := range apptest.Backends(t) {
		name := b.Name
		if b.RedisURL != "" {
			name += "+redis"
		}
		t.Run(name, func(t *testing.T) {
			srv := apptest.New(t, b, func(cfg *app.Config) {
				cfg.BcryptCost = 12
				cfg.RateLogin = identity.Limit{Name: "login", Rate: 100000, Period: time.Minute}
			})
			slug := "bench-" + apptest.RandomID(t, 6)
			if _, err := srv.CreateTenant(t, slug, "Bench"); err != nil {
				t.Fatal(err)
			}
			const email, password = "bench@example.com", "Bench-Password-2024!"
			if _, err := srv.CreateUser(t, apptest.NewUser{TenantSlug: slug, Email: email, Password: password, Name: "Bench"}); err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]string{"tenant": slug, "email": email, "password": password})
			hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
			login := func() error {
				resp, err := hc.Post(srv.URL+"/api/auth/login", "application/json", bytes.NewReader(body))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(`"access_token"`)) {
					return fmt.Errorf("login: %d %s", resp.StatusCode, raw)
				}
				return nil
			}
			// Warm up: the first-party client, connections, the dummy hash.
			for range workers {
				if err := login(); err != nil {
					t.Fatal(err)
				}
			}
			hash, err := bcrypt.GenerateFromPassword([]byte(password), 12)
			if err != nil {
				t.Fatal(err)
			}
			compare := func() error { return bcrypt.CompareHashAndPassword(hash, []byte(password)) }
			// Five interleaved rounds, so a change in the machine's load
			// weighs on both figures alike.
			const rounds = 5
			var logins, compares float64
			for range rounds {
				l, err := throughput(workers, duration/rounds, login)
				if err != nil {
					t.Fatal(err)
				}
				c, err := throughput(workers, duration/rounds, compare)
				if err != nil {
					t.Fatal(err)
				}
				logins, compares = logins+l/rounds, compares+c/rounds
			}
			t.Logf("%s: GOMAXPROCS=%d workers=%d duration=%s", name, runtime.GOMAXPROCS(0), workers, duration)
			t.Logf("%s: logins/s %.2f; bcrypt-12 compares/s %.2f; ratio %.1f%%", name, logins, compares, 100*logins/compares)
		})
	}
}

// throughput runs fn from workers goroutines, starting calls for d, and
// returns completed calls per second over the time until the last call
// ended (so no call in flight is lost or half-counted); the first error
// stops it.
func throughput(workers int, d time.Duration, fn func() error) (float64, error) {
	var (
		done     atomic.Int64
		stop     atomic.Bool
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && time.Since(start) < d {
				if err := fn(); err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), firstErr
}
