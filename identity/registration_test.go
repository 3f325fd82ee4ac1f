package identity_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

func TestDeriveSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"Acme", "acme"},
		{"  Acme Ltd.  ", "acme-ltd"},
		{"Café Müller GmbH", "cafe-muller-gmbh"},
		{"Ørsted & Søn", "orsted-son"},
		{"Straße Æble", "strasse-aeble"},
		{"--Hello__World--", "hello-world"},
		{"ＡＢＣ 123", "abc-123"},
		{"日本語", ""},
		{"", ""},
		{strings.Repeat("a", 62) + " b", strings.Repeat("a", 62)},
		{strings.Repeat("ab", 40), strings.Repeat("ab", 31) + "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.DeriveSlug(tt.name); got != tt.want {
				t.Errorf("DeriveSlug(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestNewRegistrationNamesMissingDeps(t *testing.T) {
	t.Parallel()
	_, err := identity.NewRegistration(identity.RegistrationDeps{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"Store", "Tx", "Auditor", "Mailer", "Limiter", "Issuer", "Verification"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%v does not name %s", err, name)
		}
	}
}

// verifications records the StartVerification calls; fail makes them fail.
type verifications struct {
	mu    sync.Mutex
	calls [][2]string
	fail  bool
}

func (v *verifications) StartVerification(_ context.Context, tenantID, userID string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, [2]string{tenantID, userID})
	if v.fail {
		return errors.New("mailer down")
	}
	return nil
}

type discardMail struct{ n int }

func (m *discardMail) Send(context.Context, identity.Message) error { m.n++; return nil }

// TestRegistrationStartsVerification: a new account, and only a new one,
// gets the verification message after the commit; a failure to send it
// does not undo the sign-up.
func TestRegistrationStartsVerification(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := storagetest.OpenStore(t, b, storage.Options{})
			ctx := context.Background()
			v, mail := &verifications{}, &discardMail{}
			reg, err := identity.NewRegistration(identity.RegistrationDeps{Store: st, Tx: st, Auditor: identity.Auditor{Store: st}, Mailer: mail,
				Limiter: storage.NewMemoryLimiter(), Issuer: "https://id.example", Verification: v, PasswordCost: bcrypt.MinCost,
				Config: identity.RegistrationConfig{Enabled: true, CompanyCreation: true}})
			if err != nil {
				t.Fatal(err)
			}
			in := identity.RegisterInput{Email: "vera@example.com", Password: "Verify-Me-Please-1!", Name: "Vera", CompanyName: "Verify Co",
				Meta: identity.Meta{IP: "192.0.2.1"}}
			r, err := reg.Register(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			owner, err := st.GetUserByEmail(ctx, r.TenantID, "vera@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if len(v.calls) != 1 || v.calls[0] != [2]string{r.TenantID, owner.ID} {
				t.Fatalf("calls %v, want one for the new Owner %s", v.calls, owner.ID)
			}
			if _, err := st.UpdateTenant(ctx, r.TenantID, map[string]any{"settings": `{"self_registration": true}`}); err != nil {
				t.Fatal(err)
			}
			// An address the tenant has: no verification, a notice instead.
			in.CompanyName, in.Tenant = "", r.TenantSlug
			if _, err := reg.Register(ctx, in); err != nil {
				t.Fatal(err)
			}
			if len(v.calls) != 1 || mail.n != 1 {
				t.Fatalf("calls %v, mails %d: want no verification and one notice for a known address", v.calls, mail.n)
			}
			// A failing verification sender leaves the new member in place.
			v.fail = true
			in.Email = "vic@example.com"
			if _, err := reg.Register(ctx, in); err != nil {
				t.Fatalf("a failed verification message failed the sign-up: %v", err)
			}
			vic, err := st.GetUserByEmail(ctx, r.TenantID, "vic@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if len(v.calls) != 2 || v.calls[1][1] != vic.ID || vic.EmailVerified {
				t.Fatalf("calls %v, user %+v", v.calls, vic)
			}
			// Off: refused before anything else.
			off, err := identity.NewRegistration(identity.RegistrationDeps{Store: st, Tx: st, Auditor: identity.Auditor{Store: st}, Mailer: mail,
				Limiter: storage.NewMemoryLimiter(), Issuer: "https://id.example", Verification: v})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := off.Register(ctx, in); !models.IsKind(err, models.KindForbidden) {
				t.Fatalf("sign-up off: %v", err)
			}
			if o := off.Options(); o.Enabled || o.CompanyCreation {
				t.Fatalf("options %+v", o)
			}
		})
	}
}
