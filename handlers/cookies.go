package handlers

import "time"

const (
	// deviceCookie carries the device token of a browser (2FA trust, PIN login).
	deviceCookie    = "identity_device"
	deviceCookieTTL = 400 * 24 * time.Hour
)
