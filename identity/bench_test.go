package identity_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/mailer"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

const (
	benchCost     = 12
	benchPassword = "Bench-Password-2024!"
)

// benchAccounts wires identity.Login as cmd/identityd does, on a fresh
// SQLite store, with bcrypt at cost 12 and limits that never refuse.
func benchAccounts(b *testing.B) (*identity.Login, string, string) {
	b.Helper()
	ctx := context.Background()
	st := storagetest.OpenStore(b, storagetest.SQLiteBackend(b), storage.Options{})
	ring, err := keyring.New([]byte("bench-secret-bench-secret-0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	keys := &oauth.KeyManager{Store: st, Ring: ring, ReloadEvery: 10 * time.Second, Retain: 2 * time.Hour}
	if err := keys.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	hasher := &oauth.Hasher{Cost: benchCost, Ring: ring}
	provider, err := oauth.New(oauth.Deps{
		Issuer:    "http://bench.example",
		Lifespans: oauth.Lifespans{AccessToken: time.Hour, RefreshToken: 24 * time.Hour, AuthorizeCode: 10 * time.Minute, IDToken: time.Hour},
		Ring:      ring, Store: st, Keys: keys, Hasher: hasher,
	})
	if err != nil {
		b.Fatal(err)
	}
	admin := &identitytest.Fixtures{Store: st, Hasher: hasher, PasswordCost: benchCost}
	if _, err := admin.CreateTenant(ctx, "bench", "Bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.CreateUser(ctx, identitytest.NewUser{TenantSlug: "bench", Email: "bench@example.com", Password: benchPassword, Name: "Bench"}); err != nil {
		b.Fatal(err)
	}
	cfg := identity.DefaultAccountsConfig()
	cfg.PasswordCost = benchCost
	huge := identity.Limit{Rate: 1 << 30, Period: time.Minute}
	cfg.LoginLimit, cfg.TwoFactorLimit, cfg.PINLimit = huge, huge, huge
	cfg.LoginLimit.Name = "login"
	a, err := identity.NewLogin(identity.LoginDeps{
		AccountDeps: identity.AccountDeps{Limiter: storage.NewMemoryLimiter(), Sealer: ring, Config: cfg,
			Mailer: &mailer.LogMailer{Log: slog.New(slog.DiscardHandler)}, Now: time.Now, Log: slog.New(slog.DiscardHandler)},
		CredentialStores: identity.CredentialStores{Users: st, Updater: st, Codes: st, Recovery: st, Counters: st, Auditor: identity.Auditor{Store: st}},
		Tx:               st, Sessions: st, Revoker: st, Devices: st, Challenges: st, Browser: st, UserState: st,
		Tokens: &oauth.FirstParty{Provider: provider, Clients: st}, Roles: st, Issuer: "Identity",
	})
	if err != nil {
		b.Fatal(err)
	}
	// The first login creates the tenant's first-party client; keep it out
	// of the measurement.
	if _, err := a.WithPassword(ctx, identity.LoginInput{Tenant: "bench", Email: "bench@example.com", Password: benchPassword}); err != nil {
		b.Fatal(err)
	}
	return a, "bench", "bench@example.com"
}

// BenchmarkLoginBcrypt12 is identity.Login.WithPassword end to end (rate limit,
// user lookup, bcrypt at cost 12, lockout reset, device, session, token and
// audit rows in SQLite). Compare with BenchmarkBcrypt12Compare, its bound.
func BenchmarkLoginBcrypt12(b *testing.B) {
	a, tenant, email := benchAccounts(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := a.WithPassword(ctx, identity.LoginInput{Tenant: tenant, Email: email, Password: benchPassword, Meta: identity.Meta{IP: "192.0.2.1"}})
			if err != nil || res.AccessToken == "" {
				b.Fatalf("login: %v", err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			ip := "192.0.2." + strconv.Itoa(int(n.Add(1)%250))
			for pb.Next() {
				res, err := a.WithPassword(ctx, identity.LoginInput{Tenant: tenant, Email: email, Password: benchPassword, Meta: identity.Meta{IP: ip}})
				if err != nil || res.AccessToken == "" {
					b.Errorf("login: %v", err)
					return
				}
			}
		})
	})
}

// BenchmarkBcrypt12Compare is the bound: one bcrypt comparison at cost 12,
// which every login costs.
func BenchmarkBcrypt12Compare(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), benchCost)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := bcrypt.CompareHashAndPassword(hash, []byte(benchPassword)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := bcrypt.CompareHashAndPassword(hash, []byte(benchPassword)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
