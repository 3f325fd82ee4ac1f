package storage

import (
	"reflect"
	"strings"
	"testing"

	"github.com/identityd/identityd/models"
)

const userSessionJSON = `{"oidc":{"id_token_claims":{"jti":"","iss":"https://id.example.com","sub":"0b7f0a62-2b3f-4f5e-8f1e-000000000001","aud":["webapp"],"nonce":"n-00000000000000000001","exp":"0001-01-01T00:00:00Z","iat":"0001-01-01T00:00:00Z","rat":"2026-12-02T17:22:24Z","auth_time":"2026-12-02T17:22:24Z","at_hash":"","acr":"urn:identity:acr:mfa","amr":["pwd","otp","mfa"],"c_hash":"","ext":{"email":"user1@example.com","tenant_id":"bc429941-d013-4346-b7a4-f5ca19fb914d"}},"headers":{"extra":{}},"expires_at":{"access_token":"2026-12-02T11:22:24.622851516-07:00","authorize_code":"2026-12-02T10:32:24.622851516-07:00","refresh_token":"2027-01-01T10:22:24.622851516-07:00"},"username":"","subject":"0b7f0a62-2b3f-4f5e-8f1e-000000000001"},"tenant_id":"bc429941-d013-4346-b7a4-f5ca19fb914d","client_id":"webapp","kind":"user","sid":"2a1b0c9d-8e7f-4a6b-9c5d-000000000001"}`

// The lists come back as stored, nil and empty kept apart.
func TestCompactListsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, lists := range [][4]models.StringList{
		{nil, nil, nil, nil},
		{{}, {}, {}, {}},
		{{"openid", "profile"}, {"openid"}, nil, {}},
		{{""}, {"a\x00b", strings.Repeat("x", 300)}, {"https://api.example.com"}, {"é", "ü"}},
	} {
		got, err := decodeLists(encodeLists(lists[0], lists[1], lists[2], lists[3]))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, lists) {
			t.Errorf("lists = %#v, want %#v", got, lists)
		}
		for i := range got {
			if (got[i] == nil) != (lists[i] == nil) {
				t.Errorf("list %d: nil = %v, want %v", i, got[i] == nil, lists[i] == nil)
			}
		}
	}
	for _, bad := range []string{"", "\x01", "\x01\x05", "\x01\x01\x09abc"} {
		if _, err := decodeLists(bad); err == nil {
			t.Errorf("decodeLists(%q) accepted a corrupt encoding", bad)
		}
	}
}

// The session JSON comes back byte for byte, and a session deflates to well
// under a third.
func TestCompactSessionRoundTrip(t *testing.T) {
	t.Parallel()
	for _, data := range []string{userSessionJSON, strings.Repeat("z", 5000), "{}"} {
		d, ok := deflateSession(data)
		if !ok {
			if len(data) >= 64 && data == userSessionJSON {
				t.Fatalf("a user's session did not deflate")
			}
			continue
		}
		got, err := inflateSession(d)
		if err != nil {
			t.Fatal(err)
		}
		if got != data {
			t.Fatalf("inflated session differs:\n%s\nwant\n%s", got, data)
		}
	}
	d, _ := deflateSession(userSessionJSON)
	if len(d)*3 > len(userSessionJSON) {
		t.Errorf("a user's session deflates to %d of %d bytes", len(d), len(userSessionJSON))
	}
}

// BenchmarkCompactSessionDeflate is what a lookup cache miss adds.
func BenchmarkCompactSessionDeflate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		deflateSession(userSessionJSON)
	}
}

// BenchmarkCompactSessionInflate is what a lookup cache hit adds.
func BenchmarkCompactSessionInflate(b *testing.B) {
	d, _ := deflateSession(userSessionJSON)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inflateSession(d); err != nil {
			b.Fatal(err)
		}
	}
}
