package handlers

import (
	"encoding/json"
	"strconv"

	"github.com/identityd/identityd/models"
)

func parseLimit(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, models.ErrInvalid(map[string]string{"limit": "Use a whole number from 1 to 100."})
	}
	return n, nil
}

func decodeMetadata(s string) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal([]byte(s), &out)
	return out
}
