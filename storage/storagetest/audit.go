package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// AuditStore is the audit log: rows written in the caller's transaction,
// read back a page at a time or streamed.
type AuditStore interface {
	TenantCreator
	UserCreator
	// CreateAuditLog writes a, giving it an id and the store's time.
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	// ListUserAuditLogs returns a user's rows, newest first, one page after
	// the keyset cursor (beforeTime, beforeID); "" starts at the newest.
	ListUserAuditLogs(ctx context.Context, tenantID, userID string, limit int, beforeTime time.Time, beforeID string) ([]models.AuditLog, error)
	// ListAuditLogs returns one page matching f, newest first.
	ListAuditLogs(ctx context.Context, f models.AuditFilter, limit int) ([]models.AuditLog, error)
	// StreamAuditLogs calls fn for every row matching f, newest first; fn's
	// error stops the stream and is returned.
	StreamAuditLogs(ctx context.Context, f models.AuditFilter, fn func(*models.AuditLog) error) error
}

var _ = claim[AuditStore]("RunAuditSuite", "CreateAuditLog", "ListUserAuditLogs", "ListAuditLogs", "StreamAuditLogs")

// RunAuditSuite checks the audit log: what a row keeps, a user's keyset
// pages, the filters, and streaming. open receives a fake clock in opts, so
// rows have distinct times.
func RunAuditSuite[S AuditStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) clocked[AuditStore] {
		clock := NewFakeClock(base)
		return clocked[AuditStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[AuditStore]]{
		{"Create", testAuditCreate},
		{"UserPages", testAuditUserPages},
		{"Filters", testAuditFilters},
		{"Stream", testAuditStream},
	})
}

// clocked is a store opened on a fake clock.
type clocked[S any] struct {
	s     S
	clock *FakeClock
}

// auditRows writes n rows of the tenant, a second apart, for user (nil: none).
func auditRows(t *testing.T, c clocked[AuditStore], tenantID string, user *string, action string, n int) []models.AuditLog {
	t.Helper()
	var out []models.AuditLog
	for range n {
		c.clock.Advance(time.Second)
		a := models.AuditLog{TenantID: &tenantID, UserID: user, ActorID: "actor", Action: action, IPAddress: "192.0.2.1", Metadata: `{"k":"v"}`}
		must(t, c.s.CreateAuditLog(t.Context(), &a), "create audit log")
		out = append(out, a)
	}
	return out
}

func auditIDs(rows []models.AuditLog) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// newestFirst returns the ids of rows in reverse order of writing.
func newestFirst(rows []models.AuditLog) []string {
	ids := auditIDs(rows)
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
	return ids
}

func testAuditCreate(t *testing.T, c clocked[AuditStore]) {
	ctx := t.Context()
	tn := newTenant(t, c.s)
	u := newUser(t, c.s, tn.ID)
	rows := auditRows(t, c, tn.ID, &u.ID, "user.login", 1)
	if rows[0].ID == "" {
		t.Fatal("CreateAuditLog gave no id")
	}
	wantTime(t, rows[0].CreatedAt, c.clock.Now(), "created_at is the store's time")
	got, err := c.s.ListUserAuditLogs(ctx, tn.ID, u.ID, 10, time.Time{}, "")
	must(t, err, "list")
	if len(got) != 1 {
		t.Fatalf("%d rows, want 1", len(got))
	}
	r := got[0]
	wantEqual(t, r.ID, rows[0].ID, "id")
	wantEqual(t, r.Action, "user.login", "action")
	wantEqual(t, r.ActorID, "actor", "actor")
	wantEqual(t, r.IPAddress, "192.0.2.1", "ip address")
	wantEqual(t, r.Metadata, `{"k":"v"}`, "metadata")
	wantTime(t, r.CreatedAt, rows[0].CreatedAt, "created_at")
	// A row of no tenant (a system action) is allowed.
	must(t, c.s.CreateAuditLog(ctx, &models.AuditLog{Action: "system.start", Metadata: "{}"}), "a row of no tenant")
}

func testAuditUserPages(t *testing.T, c clocked[AuditStore]) {
	ctx := t.Context()
	tn := newTenant(t, c.s)
	u, other := newUser(t, c.s, tn.ID), newUser(t, c.s, tn.ID)
	mine := auditRows(t, c, tn.ID, &u.ID, "user.login", 5)
	auditRows(t, c, tn.ID, &other.ID, "user.login", 2)
	var got []string
	var beforeTime time.Time
	beforeID := ""
	for range 10 {
		page, err := c.s.ListUserAuditLogs(ctx, tn.ID, u.ID, 2, beforeTime, beforeID)
		must(t, err, "page")
		got = append(got, auditIDs(page)...)
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		beforeTime, beforeID = last.CreatedAt, last.ID
	}
	wantArgs(t, got, newestFirst(mine), "a user's rows over pages of two")
	page, err := c.s.ListUserAuditLogs(ctx, newTenant(t, c.s).ID, u.ID, 10, time.Time{}, "")
	must(t, err, "list in another tenant")
	wantEqual(t, len(page), 0, "rows in another tenant")
}

func testAuditFilters(t *testing.T, c clocked[AuditStore]) {
	ctx := t.Context()
	tn, other := newTenant(t, c.s), newTenant(t, c.s)
	u := newUser(t, c.s, tn.ID)
	logins := auditRows(t, c, tn.ID, &u.ID, "user.login", 3)
	mid := c.clock.Now()
	changes := auditRows(t, c, tn.ID, nil, "client.update", 2)
	auditRows(t, c, other.ID, nil, "user.login", 2)

	list := func(f models.AuditFilter) []string {
		t.Helper()
		rows, err := c.s.ListAuditLogs(ctx, f, 100)
		must(t, err, "list")
		for _, r := range rows {
			wantUTC(t, r.CreatedAt, "created_at")
		}
		return auditIDs(rows)
	}
	all := newestFirst(append(append([]models.AuditLog{}, logins...), changes...))
	tests := []struct {
		name string
		f    models.AuditFilter
		want []string
	}{
		{"tenant", models.AuditFilter{TenantID: tn.ID}, all},
		{"action", models.AuditFilter{TenantID: tn.ID, Action: "client.update"}, newestFirst(changes)},
		{"subject user", models.AuditFilter{TenantID: tn.ID, Actor: u.ID}, newestFirst(logins)},
		{"text actor", models.AuditFilter{TenantID: tn.ID, Actor: "actor"}, all},
		{"from", models.AuditFilter{TenantID: tn.ID, From: mid.Add(time.Millisecond)}, newestFirst(changes)},
		{"to", models.AuditFilter{TenantID: tn.ID, To: mid.Add(time.Millisecond)}, newestFirst(logins)},
		{"before cursor", models.AuditFilter{TenantID: tn.ID, BeforeTime: changes[0].CreatedAt, BeforeID: changes[0].ID}, newestFirst(logins)},
		{"malformed tenant", models.AuditFilter{TenantID: "x"}, nil},
	}
	for _, tt := range tests {
		wantArgs(t, list(tt.f), tt.want, tt.name)
	}
}

func testAuditStream(t *testing.T, c clocked[AuditStore]) {
	ctx := t.Context()
	tn := newTenant(t, c.s)
	rows := auditRows(t, c, tn.ID, nil, "x", 7)
	var got []string
	must(t, c.s.StreamAuditLogs(ctx, models.AuditFilter{TenantID: tn.ID}, func(a *models.AuditLog) error {
		wantUTC(t, a.CreatedAt, "streamed created_at")
		got = append(got, a.ID)
		return nil
	}), "stream")
	wantArgs(t, got, newestFirst(rows), "streamed rows")

	stop := errors.New("stop")
	n := 0
	err := c.s.StreamAuditLogs(ctx, models.AuditFilter{TenantID: tn.ID}, func(*models.AuditLog) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	wantErrIs(t, err, stop, "stream stopped by fn")
	wantEqual(t, n, 3, "rows seen before the stop")
}
