// Package handlers is the HTTP layer: echo routes, middleware, request and
// response shapes, and the HTML pages. A handler parses input, calls one
// service or provider method, and renders the result. OAuth endpoints answer
// through fosite's writers in RFC 6749 form; the JSON API answers errors as
// {"error", "message", "fields"} (errors.go).
package handlers
