package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// acctMail keeps nothing: these tests read the audit log, not the mail.
type acctMail struct{}

func (acctMail) Send(context.Context, identity.Message) error { return nil }

// acctTokens stands in for oauth.FirstParty where no token is minted.
type acctTokens struct{}

func (acctTokens) IssueUserTokens(context.Context, *models.User, string, []string, time.Time, time.Duration, time.Time) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("not in this test")
}

func (acctTokens) RefreshUserToken(context.Context, string, func(context.Context, string, string, string) (time.Time, time.Duration, error)) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("not in this test")
}

func (acctTokens) RevokeToken(context.Context, string) error { return nil }

// acctDeps are complete AccountDeps over fakes.
func acctDeps(t *testing.T) identity.AccountDeps {
	t.Helper()
	ring, err := keyring.New([]byte("account-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := identity.DefaultAccountsConfig()
	cfg.PasswordCost = bcrypt.MinCost
	return identity.AccountDeps{Limiter: storage.NewMemoryLimiter(), Mailer: acctMail{}, Sealer: ring,
		StepUps: storage.NewMemoryCache(), Config: cfg, Now: time.Now, Log: slog.New(slog.DiscardHandler)}
}

// acctSMS drops text messages.
type acctSMS struct{}

func (acctSMS) SendSMS(context.Context, identity.SMS) error { return nil }

// credStores are the credential checks' stores, all st.
func credStores(st *storage.Store) identity.CredentialStores {
	return identity.CredentialStores{Users: st, Updater: st, Codes: st, Recovery: st, Counters: st, Auditor: identity.Auditor{Store: st}}
}

// loginDeps are complete LoginDeps over st.
func loginDeps(d identity.AccountDeps, st *storage.Store) identity.LoginDeps {
	return identity.LoginDeps{AccountDeps: d, CredentialStores: credStores(st), Tx: st, Sessions: st, Revoker: st, Devices: st,
		Challenges: st, Browser: st, UserState: st, Tokens: acctTokens{}, Roles: st, Issuer: "Identity"}
}

// sessionsDeps are complete SessionsDeps over st.
func sessionsDeps(st *storage.Store) identity.SessionsDeps {
	return identity.SessionsDeps{Sessions: st, Devices: st, Revoker: st, Tx: st, Auditor: identity.Auditor{Store: st}, Tokens: acctTokens{}, Push: st, Now: time.Now}
}

// accountServiceDeps are complete AccountServiceDeps over st.
func accountServiceDeps(st *storage.Store) identity.AccountServiceDeps {
	ring, err := keyring.New([]byte("account-test-secret-0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return identity.AccountServiceDeps{Users: st, Updater: st, Sessions: st, Activity: st, Tx: st, Auditor: identity.Auditor{Store: st},
		Codes: st, Keys: ring, SMS: acctSMS{}, Limiter: storage.NewMemoryLimiter(), Now: time.Now, Log: slog.New(slog.DiscardHandler)}
}

// TestAccountConstructorsRejectMissingDeps: every account service refuses
// to be built without what it needs, and says what is missing.
func TestAccountConstructorsRejectMissingDeps(t *testing.T) {
	t.Parallel()
	st := storagetest.OpenStore(t, storagetest.SQLiteBackend(t), storage.Options{})
	full := acctDeps(t)
	noMailer, noClock, noStepUps := full, full, full
	noMailer.Mailer, noClock.Now, noStepUps.StepUps = nil, nil, nil
	creds := credStores(st)
	tests := []struct {
		name, want string
		build      func() error
	}{
		{"login without stores", "NewLogin: missing Users, Updater, Codes, Recovery, Counters, Auditor", func() error {
			_, err := identity.NewLogin(identity.LoginDeps{AccountDeps: full, Tokens: acctTokens{}})
			return err
		}},
		{"login without its own stores", "NewLogin: missing Tx, Sessions, Revoker, Devices, Challenges, Browser, UserState", func() error {
			_, err := identity.NewLogin(identity.LoginDeps{AccountDeps: full, CredentialStores: creds, Tokens: acctTokens{}})
			return err
		}},
		{"login without tokens", "NewLogin: missing Tokens", func() error {
			d := loginDeps(full, st)
			d.Tokens = nil
			_, err := identity.NewLogin(d)
			return err
		}},
		{"login without mailer", "NewLogin: missing Mailer", func() error {
			_, err := identity.NewLogin(loginDeps(noMailer, st))
			return err
		}},
		{"password without clock", "NewPassword: missing Now", func() error {
			_, err := identity.NewPassword(identity.PasswordDeps{AccountDeps: noClock, CredentialStores: creds, Tx: st, Revoker: st, ResetURL: "https://id.example.com/reset-password"})
			return err
		}},
		{"password without revoker", "NewPassword: missing Tx, Revoker, ResetURL", func() error {
			_, err := identity.NewPassword(identity.PasswordDeps{AccountDeps: full, CredentialStores: creds})
			return err
		}},
		{"two-factor without step-up flags", "NewTwoFactor: missing StepUps", func() error {
			_, err := identity.NewTwoFactor(identity.TwoFactorDeps{AccountDeps: noStepUps, CredentialStores: creds, Tx: st, Issuer: "Test"})
			return err
		}},
		{"two-factor without issuer", "NewTwoFactor: missing Issuer", func() error {
			_, err := identity.NewTwoFactor(identity.TwoFactorDeps{AccountDeps: full, CredentialStores: creds, Tx: st})
			return err
		}},
		{"two-factor without tx", "NewTwoFactor: missing Tx", func() error {
			_, err := identity.NewTwoFactor(identity.TwoFactorDeps{AccountDeps: full, CredentialStores: creds, Issuer: "Test"})
			return err
		}},
		{"PIN without step-up flags", "NewPIN: missing StepUps", func() error {
			_, err := identity.NewPIN(identity.PINDeps{AccountDeps: noStepUps, CredentialStores: creds, Tx: st, PINs: st})
			return err
		}},
		{"PIN without its store", "NewPIN: missing Tx, PINs", func() error {
			_, err := identity.NewPIN(identity.PINDeps{AccountDeps: full, CredentialStores: creds})
			return err
		}},
		{"step-up without TTL", "NewStepUp: missing TTL", func() error {
			_, err := identity.NewStepUp(identity.StepUpDeps{AccountDeps: full, CredentialStores: creds})
			return err
		}},
		{"step-up without counters", "NewStepUp: missing Counters", func() error {
			c := creds
			c.Counters = nil
			_, err := identity.NewStepUp(identity.StepUpDeps{AccountDeps: full, CredentialStores: c, TTL: time.Minute})
			return err
		}},
		{"account without stores", "NewAccount: missing Users, Updater, Sessions, Activity, Tx, Auditor", func() error {
			_, err := identity.NewAccount(identity.AccountServiceDeps{})
			return err
		}},
		{"sessions without tokens", "NewSessions: missing Tokens", func() error {
			d := sessionsDeps(st)
			d.Tokens = nil
			_, err := identity.NewSessions(d)
			return err
		}},
		{"sessions without stores", "NewSessions: missing Sessions, Devices, Revoker, Tx, Auditor, Push", func() error {
			_, err := identity.NewSessions(identity.SessionsDeps{Tokens: acctTokens{}, Now: time.Now})
			return err
		}},
		{"authorizer without step-up flags", "NewAuthorizer: missing StepUps", func() error {
			_, err := identity.NewAuthorizer(identity.AuthorizerDeps{Store: st, Now: time.Now})
			return err
		}},
		{"client-auth throttle without limiter", "NewClientAuthThrottle: missing Limiter", func() error {
			_, err := identity.NewClientAuthThrottle(identity.ClientAuthThrottleDeps{Log: slog.New(slog.DiscardHandler)})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
	if _, err := identity.NewLogin(loginDeps(full, st)); err != nil {
		t.Fatalf("complete deps: %v", err)
	}
	if _, err := identity.NewSessions(sessionsDeps(st)); err != nil {
		t.Fatalf("complete sessions deps: %v", err)
	}
	if _, err := identity.NewAccount(accountServiceDeps(st)); err != nil {
		t.Fatalf("complete account deps: %v", err)
	}
}

// TestImpersonatedSelfServiceNamesTheAdmin: a self-service change made with
// an impersonation token is recorded with the admin as actor and the user
// as subject; a credential change is refused outright.
func TestImpersonatedSelfServiceNamesTheAdmin(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			st := storagetest.OpenStore(t, b, storage.Options{})
			tenant := &models.Tenant{Slug: "imp", Name: "Imp"}
			if err := st.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			hash, err := bcrypt.GenerateFromPassword([]byte("Imp-Password-2024!"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			u := &models.User{TenantID: tenant.ID, Email: "ada@imp.example", PasswordHash: string(hash), IsActive: true}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			const admin = "00000000-0000-4000-8000-0000000000ad"
			p := identity.Principal{Kind: models.PrincipalUser, TenantID: tenant.ID, UserID: u.ID, ActorID: admin}
			meta := identity.Meta{IP: "192.0.2.7", UserAgent: "imp-test"}

			account, err := identity.NewAccount(accountServiceDeps(st))
			if err != nil {
				t.Fatal(err)
			}
			sessions, err := identity.NewSessions(sessionsDeps(st))
			if err != nil {
				t.Fatal(err)
			}
			pin, err := identity.NewPIN(identity.PINDeps{AccountDeps: acctDeps(t), CredentialStores: credStores(st), Tx: st, PINs: st})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := account.UpdateProfile(ctx, p, "Ada", meta); err != nil {
				t.Fatalf("update profile: %v", err)
			}
			if err := sessions.Logout(ctx, p, meta); err != nil {
				t.Fatalf("logout: %v", err)
			}
			if err := pin.Set(ctx, p, "482916", "Imp-Password-2024!", meta); !errors.Is(err, identity.ErrImpersonationForbidden()) {
				t.Fatalf("PIN set while impersonating: %v, want impersonation_forbidden", err)
			}

			page, err := account.Activity(ctx, identity.Principal{TenantID: tenant.ID, UserID: u.ID}, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]models.AuditLog{}
			for _, row := range page.Items {
				got[row.Action] = row
			}
			if len(page.Items) != 2 {
				t.Fatalf("audit rows %v, want profile_updated and logout only", page.Items)
			}
			for _, action := range []string{identity.AuditProfileUpdated, identity.AuditLogout} {
				row, ok := got[action]
				if !ok {
					t.Fatalf("no %s row in %v", action, page.Items)
				}
				if row.ActorID != admin || row.UserID == nil || *row.UserID != u.ID {
					t.Errorf("%s: actor %q subject %v, want actor %s (the admin), subject %s", action, row.ActorID, row.UserID, admin, u.ID)
				}
				var md map[string]any
				if err := json.Unmarshal([]byte(row.Metadata), &md); err != nil {
					t.Fatal(err)
				}
				if md["impersonated_by"] != admin || md["on_behalf_of"] != u.ID {
					t.Errorf("%s metadata %v, want impersonated_by the admin on behalf of the user", action, md)
				}
			}
		})
	}
}
