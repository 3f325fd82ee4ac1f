package models

import (
	"time"
)

// RateLimit is one rate limit: Rate events per Period, keyed by Name.
type RateLimit struct {
	Name   string
	Rate   int
	Period time.Duration
}
