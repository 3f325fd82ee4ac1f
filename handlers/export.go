package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// What the streamed exports (audit.go, users_export.go) share.

// csvCell neutralises spreadsheet formulas (OWASP CSV injection): user
// agents, metadata, names and e-mail addresses come from callers, and a
// cell starting with = + - @, a tab or a carriage return would run as a
// formula when the export is opened, so it gets a leading apostrophe.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// flushEvery is how many rows are written between flushes of an export.
const flushEvery = 200

// exportFilename names an export file: kind, tenant, time (UTC) and format.
func exportFilename(kind, tenantID string, now time.Time, format string) string {
	return kind + "-" + tenantID + "-" + now.UTC().Format("20060102T150405Z") + "." + format
}

// setAttachment marks the response as a file download that no cache keeps
// and no browser sniffs.
func setAttachment(h http.Header, filename string) {
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}
