package models

import "time"

// Role is a named set of permissions; TenantID nil is a global role.
type Role struct {
	ID          string  `gorm:"primaryKey"`
	TenantID    *string `json:"tenant_id"`
	Name        string
	Description string
	Permissions StringList `gorm:"type:text"`
	System      bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Policy is a named set of permissions assigned to principals directly.
type Policy struct {
	ID          string `gorm:"primaryKey"`
	TenantID    string
	Name        string
	Description string
	Permissions StringList `gorm:"type:text"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName keeps the table name explicit.
func (Policy) TableName() string { return "policies" }

// Principal types.
const (
	PrincipalUser           = "user"
	PrincipalServiceAccount = "service_account"
)

// RoleAssignment gives a principal a role.
type RoleAssignment struct {
	TenantID      string
	PrincipalID   string `gorm:"primaryKey"`
	PrincipalType string
	RoleID        string `gorm:"primaryKey"`
	CreatedAt     time.Time
}

// PolicyAssignment gives a principal a policy.
type PolicyAssignment struct {
	TenantID      string
	PrincipalID   string `gorm:"primaryKey"`
	PrincipalType string
	PolicyID      string `gorm:"primaryKey"`
	CreatedAt     time.Time
}
