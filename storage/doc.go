// Package storage holds the GORM repositories and the fosite storage adapter
// (one Store for PostgreSQL and SQLite), the schema migrations runner, and the
// short-lived shared state behind small interfaces: a Redis cache and its
// in-process twin. The storagetest package is the conformance suite every
// backend runs.
package storage
