package webhook_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
	"github.com/identityd/identityd/webhook"
)

// TestForbiddenAddresses: the SSRF rule's address classes, IPv4-mapped
// forms included.
func TestForbiddenAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr      string
		forbidden bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true}, {"10.0.0.1", true}, {"172.16.0.1", true}, {"172.31.255.255", true},
		{"192.168.1.1", true}, {"fc00::1", true}, {"fd12::1", true}, {"169.254.169.254", true}, {"fe80::1", true},
		{"100.64.0.1", true}, {"100.127.255.255", true}, {"0.0.0.0", true}, {"0.1.2.3", true}, {"::", true}, {"224.0.0.1", true},
		{"ff02::1", true}, {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:169.254.169.254", true},
		{"255.255.255.255", true},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"172.32.0.1", false}, {"100.128.0.1", false}, {"2001:4860:4860::8888", false},
		{"::ffff:8.8.8.8", false},
	} {
		if got := identity.ForbiddenWebhookAddr(netip.MustParseAddr(tc.addr)); got != tc.forbidden {
			t.Errorf("ForbiddenWebhookAddr(%s) = %v, want %v", tc.addr, got, tc.forbidden)
		}
	}
}

// TestClientRefusesLoopbackAtConnect: the client checks the resolved
// address (localhost is a name), refuses it without connecting, and
// follows no redirect; with private targets allowed it connects.
func TestClientRefusesLoopbackAtConnect(t *testing.T) {
	hits := 0
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Redirect(w, r, "http://example.invalid/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := webhook.NewClient(5*time.Second, false).Post(url, "application/json", nil)
	if !errors.Is(err, webhook.ErrForbiddenAddress) {
		t.Fatalf("strict client: %v, want ErrForbiddenAddress", err)
	}
	mu.Lock()
	if hits != 0 {
		t.Fatalf("the receiver was reached %d times", hits)
	}
	mu.Unlock()
	resp, err := webhook.NewClient(5*time.Second, true).Post(url, "application/json", nil)
	if err != nil {
		t.Fatalf("lenient client: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect followed: %d", resp.StatusCode)
	}
}

// TestSignature: the Standard Webhooks signature of a known message.
func TestSignature(t *testing.T) {
	// The example of the Standard Webhooks specification.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := identity.WebhookKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	sig := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
	now := time.Unix(1614265330, 0)
	if err := webhook.Verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,bogus "+sig, body, now, time.Minute); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := webhook.Verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, body, now.Add(time.Hour), time.Minute); err == nil {
		t.Fatal("an old timestamp verified")
	}
}

// TestBackoffGrows: the n-th wait lies in [x/2, x] for x = base·2^(n-1)
// capped, so each wait is at least as long as any before it (until the
// cap).
func TestBackoffGrows(t *testing.T) {
	d := &webhook.Deliverer{BackoffBase: time.Second, BackoffCap: time.Minute}
	for n := 1; n <= 12; n++ {
		x := min(time.Second<<(n-1), time.Minute)
		for range 50 {
			if w := d.Backoff(n); w < x/2 || w > x {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", n, w, x/2, x)
			}
		}
	}
}

// TestTwoDeliverersDeliverOnce: two workers on one database (two stores,
// as two instances) drain the same deliveries concurrently; each is
// delivered exactly once. Run under -race on both databases.
func TestTwoDeliverersDeliverOnce(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st1 := storagetest.OpenStore(t, b, storage.Options{})
			st2 := storagetest.OpenStore(t, b, storage.Options{})
			ring, err := keyring.New([]byte("test-secret-test-secret-test-secret-0123456789"))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			got := map[string]int{}
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mu.Lock()
				got[r.Header.Get("webhook-id")]++
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			}))
			defer rcv.Close()

			tenant := &models.Tenant{Slug: "t-" + strings.ReplaceAll(b.Name, "_", ""), Name: "T"}
			if err := st1.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			hook := &models.Webhook{ID: "0a2f6c4e-3c1b-4f5e-9a7d-2b8c1d0e4f6a", TenantID: tenant.ID, URL: rcv.URL, Enabled: true}
			secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
			if hook.SecretSealed, err = ring.Seal([]byte(secret), identity.WebhookSecretAAD(hook.ID)); err != nil {
				t.Fatal(err)
			}
			if err := st1.CreateWebhook(ctx, hook); err != nil {
				t.Fatal(err)
			}
			const n = 40
			for i := range n {
				tid := tenant.ID
				ev := &models.OutboxEvent{ID: newUUID(t, i), TenantID: &tid, Type: identity.EventUserCreated, Source: "http://test", Data: `{"i":1}`}
				if err := st1.AppendEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			// An event of no tenant is only stamped.
			if err := st1.AppendEvent(ctx, &models.OutboxEvent{ID: newUUID(t, 999), Type: identity.EventTenantCreated, Source: "http://test", Data: `{}`}); err != nil {
				t.Fatal(err)
			}
			disp := &webhook.Dispatcher{Store: st1, Holder: "a", Batch: 7}
			made, err := disp.RunOnce(ctx)
			if err != nil || made != n {
				t.Fatalf("dispatch: %d deliveries, %v; want %d", made, err, n)
			}
			if again, err := (&webhook.Dispatcher{Store: st2, Holder: "b"}).RunOnce(ctx); err != nil || again != 0 {
				t.Fatalf("second dispatcher: %d, %v (the lease is held, and nothing is left)", again, err)
			}

			var wg sync.WaitGroup
			for _, st := range []*storage.Store{st1, st2} {
				d := &webhook.Deliverer{Store: st, Secrets: ring, Client: webhook.NewClient(5*time.Second, true), Batch: 5, Concurrency: 3}
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(30 * time.Second)
					for time.Now().Before(deadline) {
						k, err := d.RunOnce(ctx)
						if err != nil {
							t.Errorf("deliver: %v", err)
							return
						}
						mu.Lock()
						done := len(got) == n
						mu.Unlock()
						if done && k == 0 {
							return
						}
						if k == 0 {
							time.Sleep(5 * time.Millisecond)
						}
					}
				}()
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(got) != n {
				t.Fatalf("%d deliveries received, want %d", len(got), n)
			}
			for id, c := range got {
				if c != 1 {
					t.Errorf("delivery %s received %d times", id, c)
				}
			}
			list, total, err := st2.ListWebhookDeliveries(ctx, tenant.ID, hook.ID, 0, 100)
			if err != nil || total != n {
				t.Fatalf("deliveries: %d, %v", total, err)
			}
			for _, d := range list {
				if d.Status != models.DeliveryDelivered || d.Attempts != 1 {
					t.Errorf("delivery %s: %s after %d attempts", d.ID, d.Status, d.Attempts)
				}
			}
		})
	}
}

func newUUID(t *testing.T, i int) string {
	t.Helper()
	const tmpl = "5b0c7e1a-0000-4000-8000-000000000000"
	s := []byte(tmpl)
	digits := []byte(strings.Repeat("0", 12))
	v := i
	for k := 11; k >= 0 && v > 0; k-- {
		digits[k] = byte('0' + v%10)
		v /= 10
	}
	copy(s[len(s)-12:], digits)
	return string(s)
}
