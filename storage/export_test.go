package storage

import (
	"context"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// APIKeyLookupSQL exposes the lookup statement to the index test.
const APIKeyLookupSQL = apiKeyLookupSQL

// CountStatements counts every statement the store runs from now on.
func CountStatements(s *Store) func() int64 {
	var n atomic.Int64
	inc := func(*gorm.DB) { n.Add(1) }
	cb := s.gdb.Callback()
	_ = cb.Query().After("*").Register("test:count_query", inc)
	_ = cb.Row().After("*").Register("test:count_row", inc)
	_ = cb.Raw().After("*").Register("test:count_raw", inc)
	_ = cb.Create().After("*").Register("test:count_create", inc)
	_ = cb.Update().After("*").Register("test:count_update", inc)
	_ = cb.Delete().After("*").Register("test:count_delete", inc)
	return n.Load
}

// HoldReconnect keeps g's listener from reconnecting until release is called.
func (g *ListenGeneration) HoldReconnect() (release func()) {
	gate := make(chan struct{})
	f := func() { <-gate }
	g.beforeReconnect.Store(&f)
	var once sync.Once
	return func() {
		once.Do(func() {
			g.beforeReconnect.Store(nil)
			close(gate)
		})
	}
}

// ListenGenerationOn is ListenGeneration with its listener connected to
// dsn instead of the store's own database.
func (s *Store) ListenGenerationOn(ctx context.Context, dsn string, opts ListenOptions) (*ListenGeneration, error) {
	return s.listenGeneration(ctx, dsn, opts)
}
