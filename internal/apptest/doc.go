// Package apptest is the one harness of the end-to-end tests: a real
// identityd, built by internal/app from a Config, served by httptest on
// SQLite or on PostgreSQL + Redis (Dex's server/server_test.go
// newTestServer is the model).
//
// It holds one of each helper the tests share: the server (New, Start,
// EachBackend), the API client (Server.Do, Server.Call, Send), the login
// (Server.PasswordLogin, Server.Login), the mailbox (Mailbox, SMTPServer),
// the fixtures that create tenants, users and clients (Server.AddTenant,
// Server.AddUser, Server.AddClient, and Env's Client, ServiceClient and
// WebClient), raw SQL on the server's database (Server.Exec, Scalar, Rows,
// TableRows), the OAuth helpers (Introspect, Revoke, TokenRequest) and a
// cookie-keeping Browser for the pages.
// The fixtures (over identity/identitytest) and services.go are the only
// places the handlers' tests reach the identity services, so a renamed service
// changes this package and no test; the tests still name identity's
// constants and plain functions (roles, audit actions, limits).
//
// PostgreSQL and Redis are used when IDENTITY_TEST_DATABASE_URL and
// IDENTITY_TEST_REDIS_URL are set; a test fails (never skips) when a
// variable is set and its server is unreachable.
package apptest
