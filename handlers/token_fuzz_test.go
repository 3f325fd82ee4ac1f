package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/identityd/identityd/internal/apptest"
)

// FuzzTokenEndpoint posts arbitrary bodies, with arbitrary content types and
// with or without client authentication, to the token endpoint of one
// SQLite-backed server. Whatever arrives, the answer is never a 500 and is
// always JSON carrying either an access token or an error.
//
//	go test ./cmd/identityd -run '^$' -fuzz FuzzTokenEndpoint -fuzztime 10s
func FuzzTokenEndpoint(f *testing.F) {
	ts := apptest.New(f, apptest.SQLite(f), nil)
	biSetup(f, ts)
	form := "application/x-www-form-urlencoded"
	seeds := []struct {
		body, contentType string
		auth              bool
	}{
		{"grant_type=client_credentials&scope=read", form, true},
		{"grant_type=client_credentials", form, true},
		{"", form, true},
		{"", "", false},
		{"\x00\xff\xfe garbage %%% ===&&&", form, true},
		{"grant_type=client_credentials&scope=" + strings.Repeat("read ", 4000), form, true},
		{"grant_type=refresh_token&refresh_token=idt_rt_" + strings.Repeat("Z", 43) + "." + strings.Repeat("Y", 43), form, true},
		{"grant_type=refresh_token&refresh_token=%ff%00.", form, true},
		{"grant_type=authorization_code&code=idt_ac_garbage.garbage&redirect_uri=" + url.QueryEscape(biRedirectURI) + "&code_verifier=" + strings.Repeat("v", 43), form, true},
		{"grant_type=authorization_code&code=", form, false},
		{`{"grant_type":"client_credentials"}`, "application/json", true},
		{"--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--b--\r\n", "multipart/form-data; boundary=b", true},
		{"grant_type=client_credentials&client_id=bi-client&client_secret=" + biClientSecret, form, false},
		{"grant_type=client_credentials&grant_type=client_credentials", form, true},
		{"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=a.b.c", form, true},
	}
	for _, s := range seeds {
		f.Add(s.body, s.contentType, s.auth)
	}
	hc := biNoRedirect()
	f.Fuzz(func(t *testing.T, body, contentType string, auth bool) {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/api/oauth/token", strings.NewReader(body))
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		// The client refuses header values with control characters; keep
		// the printable part so the server still sees odd content types.
		if ct := fzPrintable(contentType); ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if auth {
			req.Header.Set("Authorization", biBasic(biClientID, biClientSecret))
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("do: %v", err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for body %q (%q): %.300s", resp.StatusCode, body, contentType, raw)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("status %d, body is not JSON: %v: %.300s", resp.StatusCode, err, raw)
		}
		_, hasErr := out["error"].(string)
		_, hasToken := out["access_token"].(string)
		if hasErr == hasToken {
			t.Fatalf("status %d, want exactly one of error and access_token: %.300s", resp.StatusCode, raw)
		}
		if hasToken && resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d with an access token", resp.StatusCode)
		}
		if hasErr && resp.StatusCode < 400 {
			t.Fatalf("status %d with an error: %.300s", resp.StatusCode, raw)
		}
		if m := leakedMarker(string(raw)); m != "" {
			t.Fatalf("response leaks %q: %.300s", m, raw)
		}
	})
}

// fzPrintable keeps the printable ASCII of s.
func fzPrintable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
