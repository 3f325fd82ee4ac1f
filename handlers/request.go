package handlers

import (
	"encoding/json"
	"strconv"

	"github.com/identityd/identityd/models"
	"github.com/labstack/echo/v4"
)

// Reading what a request sends beyond its JSON body (bind): the page size
// of a list.

// parseLimit reads a list's limit query parameter: 1 to 100.
func parseLimit(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, models.ErrInvalid(map[string]string{"limit": "Use a whole number from 1 to 100."})
	}
	return n, nil
}

// decodeMetadata renders an audit row's stored metadata JSON as an object
// (empty when it does not parse) for the audit views.
func decodeMetadata(s string) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// bind decodes a JSON body into v; a malformed body is a 400 in our shape.
func bind(c echo.Context, v any) error {
	if err := (&echo.DefaultBinder{}).BindBody(c, v); err != nil {
		return models.ErrInvalidBody()
	}
	return nil
}
