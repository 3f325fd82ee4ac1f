package storagetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// KeyStore is the signing keys: one signing, older ones published until
// their window ends.
type KeyStore interface {
	RawStore
	// ListSigningKeys returns the keys still published, newest first.
	ListSigningKeys(ctx context.Context) ([]models.SigningKey, error)
	// AddSigningKey inserts k and retires every signing key, keeping those
	// published until publishUntil, in one transaction.
	AddSigningKey(ctx context.Context, k *models.SigningKey, publishUntil time.Time) error
}

var _ = claim[KeyStore]("RunKeysSuite", "ListSigningKeys", "AddSigningKey")

// RunKeysSuite checks signing-key rotation: exactly one key signs, retired
// keys stay published for their window.
func RunKeysSuite[S KeyStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) KeyStore { return newStore(t) }, []subTest[KeyStore]{
		{"Rotation", testSigningKeyRotation},
	})
}

func testSigningKeyRotation(t *testing.T, s KeyStore) {
	ctx := t.Context()
	add := func(id string, publishUntil time.Time) {
		t.Helper()
		k := &models.SigningKey{ID: id, Algorithm: "RS256", PublicJWK: `{"kid":"` + id + `"}`, PrivateSealed: []byte("sealed-" + id)}
		must(t, s.AddSigningKey(ctx, k, publishUntil), "add key "+id)
	}
	ids := func() []string {
		t.Helper()
		keys, err := s.ListSigningKeys(ctx)
		must(t, err, "list keys")
		var out []string
		for _, k := range keys {
			out = append(out, k.ID)
		}
		return out
	}
	active := func() []string {
		t.Helper()
		var out []string
		for _, r := range rawRows(t, s, "signing_keys", "retired_at IS NULL") {
			out = append(out, r["id"])
		}
		return out
	}

	add("k1", time.Now().Add(time.Hour))
	if got := ids(); !slices.Equal(got, []string{"k1"}) {
		t.Fatalf("keys = %v, want [k1]", got)
	}
	// k1 retires but stays published for an hour.
	add("k2", time.Now().Add(time.Hour))
	if got := ids(); !slices.Equal(got, []string{"k2", "k1"}) {
		t.Fatalf("keys = %v, want [k2 k1] (newest first)", got)
	}
	if got := active(); !slices.Equal(got, []string{"k2"}) {
		t.Fatalf("signing keys = %v, want only k2", got)
	}
	// k2 retires with a publication window already over: it leaves the
	// list; k1 keeps its own window.
	add("k3", time.Now().Add(-time.Second))
	if got := ids(); !slices.Equal(got, []string{"k3", "k1"}) {
		t.Fatalf("keys = %v, want [k3 k1]", got)
	}
	if got := active(); !slices.Equal(got, []string{"k3"}) {
		t.Fatalf("signing keys = %v, want only k3", got)
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, err, "list keys")
	wantEqual(t, string(keys[0].PrivateSealed), "sealed-k3", "sealed private key")
	if keys[0].RetiredAt != nil {
		t.Fatalf("newest key retired at %v", keys[0].RetiredAt)
	}
	if keys[1].RetiredAt == nil || keys[1].PublishUntil == nil {
		t.Fatal("k1 should be retired with a publication window")
	}
}
