package oauth_test

import (
	"reflect"
	"testing"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

func TestUserClaims(t *testing.T) {
	ada := &models.User{ID: "u1", TenantID: "t1", Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	nameless := &models.User{ID: "u2", TenantID: "t1", Email: "x@example.com"}
	tests := []struct {
		name   string
		user   *models.User
		scopes []string
		want   map[string]any
	}{
		{"openid only", ada, []string{"openid"}, map[string]any{"tenant_id": "t1"}},
		{"email", ada, []string{"openid", "email"}, map[string]any{"tenant_id": "t1", "email": "ada@example.com", "email_verified": true}},
		{"profile", ada, []string{"openid", "profile"}, map[string]any{"tenant_id": "t1", "name": "Ada"}},
		{"all", ada, []string{"openid", "email", "profile", "offline_access"},
			map[string]any{"tenant_id": "t1", "email": "ada@example.com", "email_verified": true, "name": "Ada"}},
		// OpenID Connect Core §5.3.2: no value, no claim (never "name": "").
		{"profile without a name", nameless, []string{"openid", "email", "profile"},
			map[string]any{"tenant_id": "t1", "email": "x@example.com", "email_verified": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oauth.UserClaims(tt.user, tt.scopes)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("claims %v, want %v", got, tt.want)
			}
			if _, ok := got["sub"]; ok {
				t.Error("sub is the token's subject, not a user claim")
			}
		})
	}
}
