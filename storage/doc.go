// Package storage holds the one GORM-backed Store (PostgreSQL and SQLite):
// fosite's storage adapter and the repositories of every aggregate, the
// schema migrations runner, and the short-lived shared state behind small
// interfaces (a Redis cache and its in-process twin, the rate limiters).
// It imports models, gorm, fosite and go-redis, never the identity services,
// oauth or handlers: identity declares the interfaces it needs, and the Store
// satisfies them structurally.
//
// # Files
//
// One file per aggregate, named for what it holds (the conformance suite
// in storagetest has the same names):
//
//   - users.go: users (create, get, list with models.UserFilter, delete,
//     UpdateUser: an updater under the row lock), the login-failure counter
//     and lock, password history.
//   - credentials.go: a user's second factors: the PIN failure counter, the
//     last TOTP step, recovery codes.
//   - challenges.go: pending login challenges and e-mailed codes, with their
//     attempt limits.
//   - tenants.go, clients.go (the fosite Client adapter, GetClient, and the
//     admin view of clients), roles.go (roles, role assignments, permission
//     resolution, seeding), policies.go, serviceaccounts.go, apikeys.go,
//     sessions.go (device sessions), devices.go, loginsessions.go (browser
//     cookies), consents.go, keys.go (signing keys), audit.go, prune.go
//     (retention), leases.go (job leases), mailoutbox.go.
//   - fosite.go: the fosite request tables (codes, access and refresh
//     tokens, OIDC and PKCE sessions, client-assertion JTIs), refresh
//     rotation with its grace period, and the compile-time proof of every
//     fosite interface the Store keeps.
//   - store.go (Open, Migrate, Close), tx.go (fosite's Transactional and
//     InTx), errors.go (database errors to fosite sentinels and models
//     errors, once), deadline.go (statement deadlines on PostgreSQL),
//     lookupcache.go (the generation-stamped cache in front of access-token
//     and client reads), cache.go and ratelimit.go (Redis and in-process).
//
// # Conventions
//
// Every method starts from s.db(ctx): the transaction in ctx, else the pool.
// Repositories return models errors (NotFound, Conflict, Unavailable);
// fosite methods return fosite's sentinels. Updates of a whole aggregate go
// through an updater under a row lock (UpdateUser, UpdateTenantClient,
// UpdateServiceAccount); counters that guard brute force change in one
// atomic statement each, so concurrent requests cannot slip past a limit.
// A method that deletes or revokes an access token, or changes a client or
// a tenant, calls invalidateLookups; lookupcache_invalidation_test.go lists
// them.
//
// # Ids
//
// Every repository method takes the tenant and never reads or writes another
// tenant's rows. A malformed id is NotFound, never a SQL error: ids are
// checked with models.ValidID, which accepts only the canonical 8-4-4-4-12
// form. (uuid.Parse, used before, also took braces, urn:uuid: and undashed
// spellings. Ids are stored canonical, so on SQLite those spellings never
// matched a row and the answer, NotFound, is the same; on PostgreSQL the uuid
// columns used to cast such a spelling and find the row, and now it is
// NotFound there too, as on SQLite.)
package storage
