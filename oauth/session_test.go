package oauth_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/oauth"
)

func fullSession() *oauth.Session {
	authTime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s := oauth.NewUserSession("https://id.example", "tenant-1", "user-1", "client-1", authTime, authTime.Add(-time.Minute))
	s.SetExpiresAt(fosite.AccessToken, authTime.Add(time.Hour))
	s.SetExpiresAt(fosite.RefreshToken, authTime.Add(7*24*time.Hour))
	s.SetExpiresAt(fosite.AuthorizeCode, authTime.Add(10*time.Minute))
	s.Claims.AuthenticationMethodsReferences = []string{"pwd", "otp"}
	s.Claims.AuthenticationContextClassReference = "urn:identity:acr:2fa"
	s.Claims.Audience = []string{"client-1"}
	s.Claims.Nonce = "nonce-123"
	s.Claims.Extra["email"] = "alice@example.com"
	s.Claims.Extra["groups"] = []any{"a", "b"}
	s.Headers.Extra["kid"] = "key-1"
	s.Extra = map[string]any{"device_session": "ds-1", "nested": map[string]any{"k": "v"}, "list": []any{"x"}}
	return s
}

func TestSessionJSONRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		s    *oauth.Session
	}{
		{"user", fullSession()},
		{"client", oauth.NewClientSession("https://id.example", "tenant-2", "svc-1")},
		{"empty", oauth.NewSession()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.s)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			got := oauth.NewSession()
			if err := json.Unmarshal(raw, got); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			// Re-encoding gives the same JSON (checked before any getter,
			// as fosite's GetExpiresAt fills in an empty map).
			if raw2, _ := json.Marshal(got); string(raw2) != string(raw) {
				t.Errorf("second round trip differs:\n%s\n%s", raw, raw2)
			}
			want := tc.s
			if got.TenantID != want.TenantID || got.ClientID != want.ClientID || got.Kind != want.Kind {
				t.Errorf("tenant/client/kind %q %q %q, want %q %q %q", got.TenantID, got.ClientID, got.Kind, want.TenantID, want.ClientID, want.Kind)
			}
			if got.GetSubject() != want.GetSubject() || got.Claims.Subject != want.Claims.Subject {
				t.Errorf("subject %q/%q, want %q/%q", got.GetSubject(), got.Claims.Subject, want.GetSubject(), want.Claims.Subject)
			}
			for _, tt := range []fosite.TokenType{fosite.AccessToken, fosite.RefreshToken, fosite.AuthorizeCode, fosite.IDToken} {
				if !got.GetExpiresAt(tt).Equal(want.GetExpiresAt(tt)) {
					t.Errorf("%s expiry %v, want %v", tt, got.GetExpiresAt(tt), want.GetExpiresAt(tt))
				}
			}
			if !got.Claims.AuthTime.Equal(want.Claims.AuthTime) || !got.Claims.RequestedAt.Equal(want.Claims.RequestedAt) {
				t.Errorf("auth_time %v requested_at %v, want %v %v", got.Claims.AuthTime, got.Claims.RequestedAt, want.Claims.AuthTime, want.Claims.RequestedAt)
			}
			if got.Claims.Issuer != want.Claims.Issuer || got.Claims.Nonce != want.Claims.Nonce ||
				got.Claims.AuthenticationContextClassReference != want.Claims.AuthenticationContextClassReference ||
				!reflect.DeepEqual(got.Claims.AuthenticationMethodsReferences, want.Claims.AuthenticationMethodsReferences) {
				t.Errorf("claims %+v, want %+v", got.Claims, want.Claims)
			}
			if len(want.Claims.Extra) > 0 && !reflect.DeepEqual(got.Claims.Extra, want.Claims.Extra) {
				t.Errorf("claims extra %v, want %v", got.Claims.Extra, want.Claims.Extra)
			}
			if len(want.Extra) > 0 && !reflect.DeepEqual(got.Extra, want.Extra) {
				t.Errorf("extra %v, want %v", got.Extra, want.Extra)
			}
			if !reflect.DeepEqual(got.GetExtraClaims(), want.GetExtraClaims()) {
				t.Errorf("introspection claims %v, want %v", got.GetExtraClaims(), want.GetExtraClaims())
			}
		})
	}
}

func TestSessionExtraClaims(t *testing.T) {
	s := fullSession()
	got := s.GetExtraClaims()
	if got["tenant_id"] != "tenant-1" || got["principal_type"] != oauth.KindUser || got["device_session"] != "ds-1" {
		t.Errorf("extra claims %v", got)
	}
	got["tenant_id"] = "evil"
	if s.TenantID != "tenant-1" || s.GetExtraClaims()["tenant_id"] != "tenant-1" {
		t.Error("changing the returned claims changed the session")
	}
	// Extra cannot override the tenant.
	s.Extra["tenant_id"] = "other-tenant"
	if s.GetExtraClaims()["tenant_id"] != "tenant-1" {
		t.Error("Extra overrides the session's tenant_id")
	}
	c := oauth.NewClientSession("iss", "t", "svc")
	if c.GetSubject() != "svc" || c.GetExtraClaims()["principal_type"] != oauth.KindClient {
		t.Errorf("client session %v", c.GetExtraClaims())
	}
}

func TestSessionCloneIsDeep(t *testing.T) {
	orig := fullSession()
	want, _ := json.Marshal(orig)
	cl, ok := orig.Clone().(*oauth.Session)
	if !ok {
		t.Fatalf("Clone returned %T", orig.Clone())
	}
	got, _ := json.Marshal(cl)
	if string(got) != string(want) {
		t.Fatalf("clone differs:\n%s\n%s", want, got)
	}

	// Change everything reachable from the clone.
	cl.TenantID = "x"
	cl.Subject = "x"
	cl.Claims.Subject = "x"
	cl.Claims.AuthenticationMethodsReferences[0] = "x"
	cl.Claims.Audience[0] = "x"
	cl.Claims.Extra["email"] = "x"
	cl.Claims.Extra["groups"].([]any)[0] = "x"
	cl.Headers.Extra["kid"] = "x"
	cl.SetExpiresAt(fosite.AccessToken, time.Time{})
	cl.Extra["device_session"] = "x"
	cl.Extra["nested"].(map[string]any)["k"] = "x"
	cl.Extra["list"].([]any)[0] = "x"

	after, _ := json.Marshal(orig)
	if string(after) != string(want) {
		t.Errorf("changing the clone changed the original:\n%s\n%s", want, after)
	}
	var nilSession *oauth.Session
	if nilSession.Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
	if c := oauth.NewSession().Clone().(*oauth.Session); c.Extra != nil && len(c.Extra) != 0 {
		t.Errorf("clone of an empty session has extra %v", c.Extra)
	}
}
