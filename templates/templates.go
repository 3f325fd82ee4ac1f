// Package templates embeds the HTML pages and their stylesheet.
package templates

import "embed"

// FS holds pages/*.html (html/template) and static/ assets.
//
//go:embed pages/*.html static/*
var FS embed.FS
