package storage

// EmptyTokenCacheForTest drops every access token of the lookup cache.
func (s *Store) EmptyTokenCacheForTest() { s.cache.tokens.Purge() }

// CachedTokensForTest is how many access tokens the lookup cache holds.
func (s *Store) CachedTokensForTest() int { return s.cache.tokens.Len() }
