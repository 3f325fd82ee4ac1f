// Package storagetest is the storage conformance suite and the test harness
// that gives every test its backends: SQLite always (a fresh file), and
// PostgreSQL and Redis when IDENTITY_TEST_DATABASE_URL and
// IDENTITY_TEST_REDIS_URL are set. When they are set but unreachable the
// test fails; it never skips.
//
// # Suites
//
// One suite per aggregate, in a file of the same name as the storage file it
// proves, each Dex-style: RunXSuite(t, newStore) runs a []subTest table,
// every case on a fresh store (the harness makes a new database per test).
// A suite takes a small interface declared beside it, with the contract of
// each method in its comment, not *storage.Store; the suites are generic in
// the store type (RunXSuite[S XStore]) so a func(*testing.T) *storage.Store
// can be passed as it is.
//
//   - fosite.go RunFositeSuite, grace.go RunGraceSuite, tx.go RunTxSuite:
//     fosite's storage contract, graceful refresh rotation, transactions.
//   - tenants.go, users.go, credentials.go, challenges.go, clients.go,
//     roles.go, policies.go, serviceaccounts.go, apikeys.go, sessions.go,
//     devices.go, audit.go, prune.go, leases.go, mailoutbox.go, consents.go,
//     keys.go, loginsessions.go: the repositories. Each case checks return
//     values, NotFound for unknown, malformed and other-tenant ids and
//     Conflict for duplicates; every atomic counter or claim has a
//     concurrent case (N goroutines: exactly one wins, or an exact count),
//     run under -race on both databases.
//   - lookupcache.go RunLookupCacheSuite, store.go RunLifecycleSuite: the
//     lookup cache's promise and the store's own life (ping, pool, migrate,
//     close). cache.go RunCacheSuite: a storage.Cache.
//   - metrics.go RunMetricsSuite: the metrics side (call histogram and pool
//     statistics, lookup observer, outbox backlog and its collector,
//     migration status).
//
// Suites that need time to pass (grace, audit, prune, leases, mail outbox,
// metrics) take open func(t, storage.Options) and pass a FakeClock in
// Options.Now.
//
// Each suite file claims the Store methods it proves (var _ = claim[…]);
// coverage_test.go walks *storage.Store by reflection and fails for every
// exported method no suite claims. harness.go has the backends, fixtures.go
// the rows cases start from, assert.go the assertions and raw table reads,
// suite.go the table runner, the claims and the race helpers.
package storagetest
