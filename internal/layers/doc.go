// Package layers holds no code: its test keeps the direction of dependencies
// that DESIGN.md and docs/architecture.md describe (cmd → handlers → (oauth,
// identity) → storage → models), so a forbidden import fails go test ./...
// instead of waiting for a review.
package layers
