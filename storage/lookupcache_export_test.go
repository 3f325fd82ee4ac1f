package storage

import "gorm.io/gorm"

// PurgeLookupCacheForTest empties the token lookup cache.
func (s *Store) PurgeLookupCacheForTest() { s.cache.tokens.Purge() }

// CachedTokensForTest is how many access tokens the lookup cache holds.
func (s *Store) CachedTokensForTest() int { return s.cache.tokens.Len() }

func (s *Store) GormForTest() *gorm.DB { return s.gdb }
