package storagetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// KeyStore is the signing keys: one signing per algorithm, older ones
// published until their window ends.
type KeyStore interface {
	RawStore
	// ListSigningKeys returns the keys still published, newest first.
	ListSigningKeys(ctx context.Context) ([]models.SigningKey, error)
	// AddSigningKey inserts k and retires every signing key of k's
	// algorithm, keeping those published until publishUntil, in one
	// transaction.
	AddSigningKey(ctx context.Context, k *models.SigningKey, publishUntil time.Time) error
}

var _ = claim[KeyStore]("RunKeysSuite", "ListSigningKeys", "AddSigningKey")

// RunKeysSuite checks signing-key rotation: exactly one key of each
// algorithm signs, retired keys stay published for their window.
func RunKeysSuite[S KeyStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) KeyStore { return newStore(t) }, []subTest[KeyStore]{
		{"Rotation", testSigningKeyRotation},
		{"RotationPerAlgorithm", testSigningKeyRotationPerAlgorithm},
		{"PreviousReleaseView", testSigningKeysPreviousReleaseView},
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
		for _, r := range rawRows(t, s, "jwk_signing_keys", "retired_at IS NULL") {
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

// testSigningKeyRotationPerAlgorithm: rotating one algorithm's key leaves
// the other algorithm's signing key signing.
func testSigningKeyRotationPerAlgorithm(t *testing.T, s KeyStore) {
	ctx := t.Context()
	add := func(id, alg string) {
		t.Helper()
		k := &models.SigningKey{ID: id, Algorithm: alg, PublicJWK: `{"kid":"` + id + `"}`, PrivateSealed: []byte("sealed-" + id)}
		must(t, s.AddSigningKey(ctx, k, time.Now().Add(time.Hour)), "add key "+id)
	}
	signing := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, r := range rawRows(t, s, "jwk_signing_keys", "retired_at IS NULL") {
			if prev, dup := out[r["algorithm"]]; dup {
				t.Fatalf("two %s keys sign: %s and %s", r["algorithm"], prev, r["id"])
			}
			out[r["algorithm"]] = r["id"]
		}
		return out
	}
	add("rsa1", models.SigningAlgRS256)
	add("ec1", models.SigningAlgES256)
	if got := signing(); got[models.SigningAlgRS256] != "rsa1" || got[models.SigningAlgES256] != "ec1" {
		t.Fatalf("signing keys = %v, want rsa1 and ec1", got)
	}
	add("ec2", models.SigningAlgES256)
	if got := signing(); got[models.SigningAlgRS256] != "rsa1" || got[models.SigningAlgES256] != "ec2" {
		t.Fatalf("after an ES256 rotation signing keys = %v, want rsa1 and ec2", got)
	}
	add("rsa2", models.SigningAlgRS256)
	if got := signing(); got[models.SigningAlgRS256] != "rsa2" || got[models.SigningAlgES256] != "ec2" {
		t.Fatalf("after an RS256 rotation signing keys = %v, want rsa2 and ec2", got)
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, err, "list keys")
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	slices.Sort(ids)
	if want := []string{"ec1", "ec2", "rsa1", "rsa2"}; !slices.Equal(ids, want) {
		t.Fatalf("published keys = %v, want %v (retired keys stay in their window)", ids, want)
	}
}

// testSigningKeysPreviousReleaseView plays an instance of the release
// before ES256 during a rolling upgrade on PostgreSQL: it reads and rotates
// signing_keys as RSA keys. It must see only RS256 keys (it cannot parse
// another), and its rotation must retire RS256 keys alone.
func testSigningKeysPreviousReleaseView(t *testing.T, s KeyStore) {
	if s.Dialect() != storage.Postgres {
		t.Skip("only PostgreSQL runs instances of two releases side by side")
	}
	ctx := t.Context()
	for _, k := range []*models.SigningKey{
		{ID: "rsa1", Algorithm: models.SigningAlgRS256, PublicJWK: "{}", PrivateSealed: []byte("r1")},
		{ID: "ec1", Algorithm: models.SigningAlgES256, PublicJWK: "{}", PrivateSealed: []byte("e1")},
	} {
		must(t, s.AddSigningKey(ctx, k, time.Now().Add(time.Hour)), "add key "+k.ID)
	}
	db, err := s.SQLDB()
	must(t, err, "SQLDB")
	ids := func(q string) []string {
		t.Helper()
		rows, err := db.QueryContext(ctx, q)
		must(t, err, q)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			must(t, rows.Scan(&id), "scan")
			out = append(out, id)
		}
		must(t, rows.Err(), "rows")
		slices.Sort(out)
		return out
	}
	if got := ids("SELECT id FROM signing_keys WHERE publish_until IS NULL OR publish_until > now()"); !slices.Equal(got, []string{"rsa1"}) {
		t.Fatalf("the previous release sees keys %v, want only the RS256 key rsa1", got)
	}
	// Its AddSigningKey, statement for statement.
	tx, err := db.BeginTx(ctx, nil)
	must(t, err, "begin")
	_, err = tx.ExecContext(ctx, "UPDATE signing_keys SET retired_at = now(), publish_until = now() + interval '1 hour' WHERE retired_at IS NULL")
	must(t, err, "retire through the view")
	_, err = tx.ExecContext(ctx, "INSERT INTO signing_keys (id, algorithm, public_jwk, private_sealed, created_at) VALUES ('rsa2', 'RS256', '{}', 'r2', now())")
	must(t, err, "insert through the view")
	must(t, tx.Commit(), "commit")
	if got := ids("SELECT id FROM jwk_signing_keys WHERE retired_at IS NULL"); !slices.Equal(got, []string{"ec1", "rsa2"}) {
		t.Fatalf("signing keys after the previous release rotated = %v, want [ec1 rsa2]", got)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO signing_keys (id, algorithm, public_jwk, private_sealed, created_at) VALUES ('ec9', 'ES256', '{}', 'e9', now())"); err == nil {
		t.Fatal("the view took a key that is not RS256")
	}
}
