package main

import "github.com/identityd/identityd/internal/app"

// Transitional names while the end-to-end tests move out of package main.
type (
	App    = app.App
	Config = app.Config
)

var (
	Build      = app.Build
	LoadConfig = app.LoadConfig
)

type (
	Secret = app.Secret
)
