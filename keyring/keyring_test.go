package keyring

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func newRing(t *testing.T, secret string) *Keyring {
	t.Helper()
	k, err := New([]byte(secret))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

const (
	secretA = "keyring-test-secret-A-0123456789abcdef"
	secretB = "keyring-test-secret-B-0123456789abcdef"
)

func TestNewRefusesShortSecrets(t *testing.T) {
	cases := []struct {
		name   string
		secret []byte
		ok     bool
	}{
		{"empty", nil, false},
		{"one byte", []byte("x"), false},
		{"31 bytes", bytes.Repeat([]byte("a"), MinSecretLen-1), false},
		{"32 bytes", bytes.Repeat([]byte("a"), MinSecretLen), true},
		{"64 bytes", bytes.Repeat([]byte("b"), 64), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := New(tc.secret)
			if tc.ok != (err == nil) {
				t.Fatalf("New(%d bytes) = %v, want ok=%v", len(tc.secret), err, tc.ok)
			}
			if err != nil && (k != nil || strings.Contains(err.Error(), string(tc.secret)) && len(tc.secret) > 0) {
				t.Errorf("refusal returned a keyring or repeated the secret: %v", err)
			}
		})
	}
}

func TestNewCopiesTheSecret(t *testing.T) {
	secret := []byte(secretA)
	k, err := New(secret)
	if err != nil {
		t.Fatal(err)
	}
	before := k.Derive(PurposeLookup)
	copy(secret, "XXXXXXXX")
	if !bytes.Equal(before, k.Derive(PurposeLookup)) {
		t.Error("changing the caller's slice changed the keyring")
	}
}

func TestSealOpen(t *testing.T) {
	k := newRing(t, secretA)
	plain := []byte("private signing key material")
	ad := []byte("kid-1")
	sealed, err := k.Seal(plain, ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := k.Seal(plain, ad)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of the same plaintext are identical (nonce reuse)")
	}
	got, err := k.Open(sealed, ad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if empty, err := k.Seal(nil, nil); err != nil {
		t.Fatalf("seal empty: %v", err)
	} else if out, err := k.Open(empty, nil); err != nil || len(out) != 0 {
		t.Errorf("empty round trip = %q, %v", out, err)
	}

	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	other := newRing(t, secretB)
	cases := []struct {
		name   string
		ring   *Keyring
		sealed []byte
		ad     []byte
	}{
		{"wrong additional data", k, sealed, []byte("kid-2")},
		{"missing additional data", k, sealed, nil},
		{"tampered nonce", k, flip(0), ad},
		{"tampered ciphertext", k, flip(len(sealed) / 2), ad},
		{"tampered tag", k, flip(len(sealed) - 1), ad},
		{"truncated", k, sealed[:len(sealed)-1], ad},
		{"too short", k, sealed[:5], ad},
		{"empty", k, nil, ad},
		{"other secret", other, sealed, ad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.ring.Open(tc.sealed, tc.ad)
			if err == nil {
				t.Fatalf("Open succeeded: %q", out)
			}
			if out != nil {
				t.Errorf("Open returned data with its error: %q", out)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	k := newRing(t, secretA)
	values := []string{"", "rt:1700000000", "/api/oauth/authorize?client_id=a&scope=openid", "with.dots.inside", "ünïcødé \x00 bytes"}
	for _, v := range values {
		signed := k.Sign(v)
		got, ok := k.Verify(signed)
		if !ok || got != v {
			t.Errorf("Verify(Sign(%q)) = %q, %v", v, got, ok)
		}
	}

	signed := k.Sign("consent:user-1:1700000000")
	dot := strings.LastIndexByte(signed, '.')
	payload, mac := signed[:dot], signed[dot+1:]
	forged := base64.RawURLEncoding.EncodeToString([]byte("consent:user-2:1700000000"))
	flipLast := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == 'a' {
			b[len(b)-1] = 'b'
		} else {
			b[len(b)-1] = 'a'
		}
		return string(b)
	}
	other := newRing(t, secretB)
	cases := []struct {
		name   string
		ring   *Keyring
		signed string
	}{
		{"changed value", k, forged + "." + mac},
		{"changed mac", k, payload + "." + flipLast(mac)},
		{"mac truncated", k, payload + "." + mac[:len(mac)-2]},
		{"no mac", k, payload},
		{"empty mac", k, payload + "."},
		{"empty", k, ""},
		{"not base64", k, "!!!." + mac},
		{"other secret", other, signed},
		{"raw value with a MAC of the value", k, "consent:user-1:1700000000." + mac},
		{"MAC under another purpose", k, payload + "." + k.MAC(PurposeLookup, []byte("consent:user-1:1700000000"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if v, ok := tc.ring.Verify(tc.signed); ok || v != "" {
				t.Errorf("Verify(%q) = %q, %v; want refusal", tc.signed, v, ok)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	k := newRing(t, secretA)
	purposes := []string{PurposeSeal, PurposeTokenHMAC, PurposeSecretCache, PurposeSigned, PurposeLookup}
	seen := map[string]string{}
	for _, p := range purposes {
		key := k.Derive(p)
		if len(key) != 32 {
			t.Errorf("Derive(%s) is %d bytes, want 32", p, len(key))
		}
		if !bytes.Equal(key, k.Derive(p)) {
			t.Errorf("Derive(%s) is not deterministic", p)
		}
		if bytes.Contains([]byte(secretA), key) || bytes.Contains(key, []byte(secretA[:16])) {
			t.Errorf("Derive(%s) exposes the root secret", p)
		}
		if prev, dup := seen[string(key)]; dup {
			t.Errorf("Derive(%s) equals Derive(%s)", p, prev)
		}
		seen[string(key)] = p
	}
	if bytes.Equal(k.Derive(PurposeSeal), newRing(t, secretB).Derive(PurposeSeal)) {
		t.Error("two secrets derive the same key")
	}
}

func TestMAC(t *testing.T) {
	k := newRing(t, secretA)
	if k.MAC(PurposeLookup, []byte("ab"), []byte("c")) == k.MAC(PurposeLookup, []byte("a"), []byte("bc")) {
		t.Error("MAC does not separate its parts")
	}
	if k.MAC(PurposeLookup, []byte("x")) == k.MAC(PurposeSecretCache, []byte("x")) {
		t.Error("MAC is the same under two purposes")
	}
	m := k.MAC(PurposeLookup, []byte("x"))
	if len(m) != 64 || m != k.MAC(PurposeLookup, []byte("x")) {
		t.Errorf("MAC %q is not a stable hex SHA-256", m)
	}
}

func TestRandomToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := RandomToken(32)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 base64url bytes", tok)
		}
		if seen[tok] {
			t.Fatal("RandomToken repeated itself")
		}
		seen[tok] = true
	}
}
