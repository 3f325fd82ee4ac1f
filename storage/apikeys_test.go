package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestAPIKeyLookupOneIndexedRead proves the API-key lookup is one statement
// that reads api_keys through its key_hash index.
func TestAPIKeyLookupOneIndexedRead(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := storagetest.OpenStore(t, b, storage.Options{})
			tenant := &models.Tenant{Slug: "keys", Name: "Keys"}
			if err := st.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			sa := &models.ServiceAccount{TenantID: tenant.ID, Name: "robot", IsActive: true}
			if err := st.CreateServiceAccount(ctx, sa); err != nil {
				t.Fatal(err)
			}
			for i, h := range []string{"aa", "bb", "cc", "dd"} {
				k := &models.APIKey{TenantID: tenant.ID, ServiceAccountID: sa.ID, Prefix: "idk_x", KeyHash: strings.Repeat(h, 32)}
				if err := st.CreateAPIKey(ctx, k); err != nil {
					t.Fatalf("key %d: %v", i, err)
				}
			}

			count := storage.CountStatements(st)
			before := count()
			_, tid, said, _, err := st.LookupAPIKey(ctx, strings.Repeat("cc", 32), time.Now())
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			if tid != tenant.ID || said != sa.ID {
				t.Fatalf("lookup gave tenant %s account %s", tid, said)
			}
			if n := count() - before; n != 1 {
				t.Fatalf("lookup ran %d statements, want 1", n)
			}
			before = count()
			if _, _, _, _, err := st.LookupAPIKey(ctx, strings.Repeat("ee", 32), time.Now()); !models.IsKind(err, models.KindNotFound) {
				t.Fatalf("unknown key: %v, want NotFound", err)
			}
			if n := count() - before; n != 1 {
				t.Fatalf("a miss ran %d statements, want 1", n)
			}

			plan := explainLookup(t, st, strings.Repeat("cc", 32))
			switch st.Dialect() {
			case storage.Postgres:
				if !strings.Contains(plan, "api_keys_key_hash_key") {
					t.Fatalf("the lookup does not use the key_hash index:\n%s", plan)
				}
			default:
				if !strings.Contains(plan, "USING INDEX") || !strings.Contains(plan, "key_hash=?") {
					t.Fatalf("the lookup does not search api_keys by the key_hash index:\n%s", plan)
				}
			}
		})
	}
}

// explainLookup returns the plan of the lookup statement. On PostgreSQL
// sequential scans are switched off for the session, so a tiny table cannot
// hide a missing index behind a cheaper scan.
func explainLookup(t *testing.T, st *storage.Store, hash string) string {
	t.Helper()
	ctx := context.Background()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := strings.Replace(storage.APIKeyLookupSQL, "?", "'"+hash+"'", 1)
	q = strings.Replace(q, "?", "'2030-01-01 00:00:00+00:00'", 1)
	explain := "EXPLAIN QUERY PLAN "
	if st.Dialect() == storage.Postgres {
		explain = "EXPLAIN "
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "RESET enable_seqscan") //nolint:errcheck
	}
	rows, err := conn.QueryContext(ctx, explain+q)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			switch x := v.(type) {
			case []byte:
				parts = append(parts, string(x))
			case string:
				parts = append(parts, x)
			}
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	return strings.Join(lines, "\n")
}
