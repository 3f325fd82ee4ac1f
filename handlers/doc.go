// Package handlers is the HTTP layer: echo routes, middleware, request and
// response shapes, and the HTML pages. A handler parses input, calls one
// service or provider method, and renders the result.
//
// Every route is a row of one table (routes.go): method, path, how it is
// guarded (Auth: public, OAuth client, access token, first-party user,
// any principal, permission, or CSRF-protected page), the permission and
// tenant scope of a permission route (the names are identity's Perm*
// constants), and the handler. New registers the table in one loop, each
// route with its own middleware, so an unknown path is 404 and a wrong
// method 405, never a group's catch-all; Routes is the table for tests,
// which hold it to docs/openapi.json.
//
// The edge middleware every request passes is in edge.go (deny list,
// request id and trace context, security headers, CORS) and server.go
// (logging, load shedding, panics, body limit); inputcheck.go refuses
// control characters everywhere.
//
// OAuth endpoints (authorize.go, token.go, introspect.go, userinfo.go)
// answer through fosite's writers in RFC 6749 form; the login and consent
// decision of the authorization endpoint is oauth.ConsentStrategy's, and
// claims are oauth.UserClaims. The JSON API answers errors as {"error",
// "message", "fields"} from one mapping (errors.go), with the codes of
// models/errcodes.go, and logs each at the error's level; pages get the
// message page.
package handlers
