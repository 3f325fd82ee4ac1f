// Package storage holds the GORM repositories and the fosite storage adapter
// (one Store for PostgreSQL and SQLite), the schema migrations runner, and the
// short-lived shared state behind small interfaces: a Redis cache and its
// in-process twin. The storagetest package is the conformance suite every
// backend runs.
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
