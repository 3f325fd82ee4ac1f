// Package storagetest is the storage conformance suite and the test harness
// that gives every test its backends: SQLite always (a fresh file), and
// PostgreSQL and Redis when IDENTITY_TEST_DATABASE_URL and
// IDENTITY_TEST_REDIS_URL are set. When they are set but unreachable the
// test fails; it never skips.
package storagetest
