// Package docs holds the API reference that ships inside the binary:
// openapi.json, the OpenAPI 3.1 document of every /api route, served at
// GET /api/openapi.json. The file in this directory is the only copy; edit
// it when adding a route (cmd/identityd/openapi_test.go names what is
// missing).
package docs

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document (JSON).
//
//go:embed openapi.json
var OpenAPI []byte
