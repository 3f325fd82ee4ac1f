package oauth_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

func TestUserClaims(t *testing.T) {
	ada := &models.User{ID: "u1", TenantID: "t1", Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	nameless := &models.User{ID: "u2", TenantID: "t1", Email: "x@example.com"}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	full := &models.User{ID: "u3", TenantID: "t1", Email: "g@example.com", Name: "Grace Hopper", GivenName: "Grace", FamilyName: "Hopper",
		Locale: "en-US", Zoneinfo: "America/New_York", Picture: "https://example.com/g.png", PhoneNumber: "+12025550100",
		PhoneNumberVerified: true, ProfileUpdatedAt: &at}
	unverifiedPhone := &models.User{ID: "u4", TenantID: "t1", PhoneNumber: "+447700900123"}
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
		{"full profile", full, []string{"openid", "profile"}, map[string]any{"tenant_id": "t1", "name": "Grace Hopper",
			"given_name": "Grace", "family_name": "Hopper", "locale": "en-US", "zoneinfo": "America/New_York",
			"picture": "https://example.com/g.png", "updated_at": at.Unix()}},
		{"phone", full, []string{"openid", "phone"}, map[string]any{"tenant_id": "t1", "phone_number": "+12025550100", "phone_number_verified": true}},
		{"phone unverified", unverifiedPhone, []string{"openid", "phone", "profile"},
			map[string]any{"tenant_id": "t1", "phone_number": "+447700900123", "phone_number_verified": false}},
		{"phone scope, no number", ada, []string{"openid", "phone"}, map[string]any{"tenant_id": "t1"}},
		{"profile without phone scope hides the number", full, []string{"openid", "email"},
			map[string]any{"tenant_id": "t1", "email": "g@example.com", "email_verified": false}},
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
