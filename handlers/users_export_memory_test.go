package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// TestUsersExportMemory measures the users export of 10,000 and then
// 100,000 users on SQLite, CSV and XLSX: the peak Go heap in use while the
// export runs (sampled every 5 ms, above the heap before it) and the
// process's peak RSS (VmHWM, reset before each export through
// /proc/self/clear_refs). The client counts the body without keeping it,
// so the figures are the server's. It fails when the peak heap grows by
// more than 96 MiB, whatever the count: the export must not hold the list
// (an XLSX keeps up to excelize's 16 MiB stream chunk in memory, in a
// buffer that may have doubled to 32 MiB, before it spills to a file).
// IDENTITY_EXPORT_MEMORY_SIZES (comma-separated, ascending) replaces the
// counts.
// The figures are in docs/benchmarks.md. It seeds with bulk INSERTs and
// takes about half a minute, so it runs only on request:
//
//	IDENTITY_EXPORT_MEMORY=1 go test -count=1 -run TestUsersExportMemory -v ./handlers/
func TestUsersExportMemory(t *testing.T) {
	if testing.Short() || os.Getenv("IDENTITY_EXPORT_MEMORY") == "" {
		t.Skip("set IDENTITY_EXPORT_MEMORY=1 to measure the users export's memory")
	}
	var b apptest.Backend
	for _, bb := range apptest.Backends(t) {
		if bb.Name == "sqlite" {
			b = bb
		}
	}
	require.Equal(t, "sqlite", b.Name)
	srv := apptest.New(t, b, nil)
	tenant := newTestTenant(t, srv)
	admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin, dangerZone: true})
	tok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
	memberRole := srv.Scalar(t, "SELECT id FROM roles WHERE tenant_id = ? AND name = ?", tenant.ID, identity.RoleMember)

	seeded := 1 // the admin
	seedTo := func(n int) {
		t.Helper()
		seedUsers(t, srv, tenant.ID, memberRole, seeded, n-seeded)
		seeded = n
	}
	sizes := []int{10_000, 100_000}
	if v := os.Getenv("IDENTITY_EXPORT_MEMORY_SIZES"); v != "" {
		sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err, "IDENTITY_EXPORT_MEMORY_SIZES")
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		seedTo(n)
		for _, format := range []string{"csv", "xlsx"} {
			// Step up afresh: the seeding may outlast the step-up window.
			srv.StepUp(t, tok, apptest.Password)
			m := measureExport(t, srv, tok, format)
			if format == "csv" {
				require.Equal(t, n+1, m.lines, "a header and one line per user")
			} else {
				require.Equal(t, n+1, xlsxRows(t, m.file), "a header and one row per user")
			}
			t.Logf("MEASURE users=%d format=%s bytes=%d heap_before=%.1fMiB heap_peak=%.1fMiB heap_growth=%.1fMiB rss_peak=%.1fMiB elapsed=%s",
				n, format, m.bytes, mib(m.heapBefore), mib(m.heapPeak), mib(m.heapPeak-m.heapBefore), mib(m.rssPeak), m.elapsed.Round(time.Millisecond))
			require.Less(t, m.heapPeak-m.heapBefore, uint64(96<<20), "the export's heap stays bounded")
		}
	}
}

func mib(v uint64) float64 { return float64(v) / (1 << 20) }

// seedUsers inserts n users (numbered from first) with the Member role in
// multi-row INSERTs, 500 rows a statement, in one transaction.
func seedUsers(t *testing.T, srv *apptest.Server, tenantID, roleID string, first, n int) {
	t.Helper()
	db, err := srv.Store.SQLDB()
	require.NoError(t, err)
	ctx := t.Context()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	now := time.Now().UTC()
	const batch = 500
	for done := 0; done < n; done += batch {
		k := min(batch, n-done)
		var users, roles strings.Builder
		users.WriteString("INSERT INTO users (id, tenant_id, email, password_hash, name, email_verified, created_at, updated_at) VALUES ")
		roles.WriteString("INSERT INTO role_assignments (tenant_id, principal_id, principal_type, role_id, created_at) VALUES ")
		var uargs, rargs []any
		for i := range k {
			if i > 0 {
				users.WriteString(",")
				roles.WriteString(",")
			}
			users.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			roles.WriteString("(?, ?, 'user', ?, ?)")
			id, num := uuid.NewString(), first+done+i
			uargs = append(uargs, id, tenantID, fmt.Sprintf("user%06d@bulk.example", num), "$2a$12$not.a.real.hash.just.filler.for.the.row.size.....",
				"Bulk User "+strconv.Itoa(num), num%2 == 0, now, now)
			rargs = append(rargs, tenantID, id, roleID, now)
		}
		_, err := tx.ExecContext(ctx, apptest.Rebind(srv.Store.Dialect(), users.String()), uargs...)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, apptest.Rebind(srv.Store.Dialect(), roles.String()), rargs...)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

type exportMeasure struct {
	bytes, lines                  int
	heapBefore, heapPeak, rssPeak uint64
	elapsed                       time.Duration
	file                          string // the XLSX, written to a temporary file
}

// measureExport runs one export and samples the heap while it streams.
func measureExport(t *testing.T, srv *apptest.Server, tok, format string) exportMeasure {
	t.Helper()
	var m exportMeasure
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heapBefore = ms.HeapInuse
	resetPeakRSS(t)

	var peak atomic.Uint64
	peak.Store(ms.HeapInuse)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&s)
				if s.HeapInuse > peak.Load() {
					peak.Store(s.HeapInuse)
				}
			}
		}
	})

	start := time.Now()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/users/export?format="+format, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", apptest.ChromeUA)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var sink io.Writer = io.Discard
	if format == "xlsx" {
		f, err := os.CreateTemp(t.TempDir(), "users-*.xlsx")
		require.NoError(t, err)
		defer f.Close()
		m.file = f.Name()
		sink = f
	}
	cw := &countingWriter{w: sink}
	_, err = io.Copy(cw, resp.Body)
	require.NoError(t, err)
	m.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	m.bytes, m.lines, m.heapPeak = cw.n, cw.lines, peak.Load()
	m.rssPeak = peakRSS(t)
	return m
}

type countingWriter struct {
	w        io.Writer
	n, lines int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	c.lines += strings.Count(string(p), "\n")
	return c.w.Write(p)
}

// xlsxRows counts the rows of the workbook's Users sheet with excelize's
// row iterator (after the measurement: it is the test's memory, not the
// server's).
func xlsxRows(t *testing.T, path string) int {
	t.Helper()
	f, err := excelize.OpenFile(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := f.Rows("Users")
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Error())
	return n
}

// resetPeakRSS resets VmHWM (Linux: writing 5 to clear_refs).
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSS reads VmHWM from /proc/self/status (0 where there is none).
func peakRSS(t *testing.T) uint64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
