// Package migrations embeds the versioned SQL schema, one folder per dialect
// (postgres/, sqlite/). Files follow goose's naming and annotations; storage
// applies them with goose, each migration inside a transaction.
package migrations

import "embed"

// Postgres holds the PostgreSQL migrations under "postgres".
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the SQLite migrations under "sqlite".
//
//go:embed sqlite/*.sql
var SQLite embed.FS
