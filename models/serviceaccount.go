package models

import (
	"time"
)

// ServiceAccount is a non-human principal of a tenant.
type ServiceAccount struct {
	ID          string `gorm:"primaryKey"`
	TenantID    string
	Name        string
	Description string
	IsActive    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// APIKey authenticates a service account as "Authorization: Bearer <key>".
// KeyHash is a keyed SHA-256 of the key, so lookup is one indexed read.
type APIKey struct {
	ID               string `gorm:"primaryKey"`
	TenantID         string
	ServiceAccountID string
	Name             string
	Prefix           string
	KeyHash          string `json:"-"`
	LastUsedAt       *time.Time
	ExpiresAt        *time.Time
	RevokedAt        *time.Time
	CreatedAt        time.Time
}
