package models

import "time"

// Push platforms a device registers for.
const (
	// PushFCM is Firebase Cloud Messaging (Android, and iOS through Firebase).
	PushFCM = "fcm"
	// PushAPNs is the Apple Push Notification service.
	PushAPNs = "apns"
)

// PushDevice is where a notification for a user can be sent: one
// registration per push token and tenant. The token is stored sealed
// (TokenSealed, AES-GCM) and found by its keyed hash (TokenHash); neither
// is ever rendered.
type PushDevice struct {
	ID       string `gorm:"primaryKey"`
	TenantID string
	UserID   string
	// DeviceID is the signed-in device the registration was made from
	// (nil when the session had none); revoking that device removes it.
	DeviceID    *string
	Platform    string
	TokenHash   string `json:"-"`
	TokenSealed []byte `json:"-"`
	AppID       string `gorm:"column:app_id"`
	DeviceName  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// PushDeviceFilter selects the push registrations of one user of a tenant
// to remove: all of them, those made from DeviceID, or the one with ID.
type PushDeviceFilter struct {
	TenantID string
	UserID   string
	DeviceID string
	ID       string
}
