package handlers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"
)

// softAuthenticator is a WebAuthn authenticator in software, for the API
// tests (issue 12 §2): one P-256 credential, "none" attestation, a sign
// counter the test controls, and the flags it reports. It builds
// clientDataJSON as a browser would, for the origin it is told.
type softAuthenticator struct {
	t          testing.TB
	key        *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	rpID       string
	// Counter is the sign count the next assertion reports (incremented
	// before each one unless Frozen).
	Counter uint32
	Frozen  bool
	// UV: the authenticator verified its user (PIN, biometrics).
	UV bool
	// Origin is what clientDataJSON says; RPIDOverride, when set, is
	// hashed into the authenticator data instead of the options' RP ID.
	Origin       string
	RPIDOverride string
}

func newSoftAuthenticator(t testing.TB, origin string) *softAuthenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	id := make([]byte, 32)
	_, err = rand.Read(id)
	require.NoError(t, err)
	return &softAuthenticator{t: t, key: key, credID: id, UV: true, Origin: origin}
}

var b64 = base64.RawURLEncoding

// publicKeyOptions is the part of a begin step's answer the authenticator reads.
type publicKeyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		UserVerification       string         `json:"userVerification"`
		AuthenticatorSelection map[string]any `json:"authenticatorSelection"`
		Attestation            string         `json:"attestation"`
	} `json:"publicKey"`
}

func parseOptions(t testing.TB, body []byte) publicKeyOptions {
	t.Helper()
	var o publicKeyOptions
	require.NoError(t, json.Unmarshal(body, &o), "options: %s", body)
	require.NotEmpty(t, o.PublicKey.Challenge, "options without a challenge: %s", body)
	return o
}

func (a *softAuthenticator) flags(attested bool) byte {
	f := byte(0x01) // UP
	if a.UV {
		f |= 0x04
	}
	if attested {
		f |= 0x40
	}
	return f
}

func (a *softAuthenticator) rpHash(rpID string) []byte {
	if a.RPIDOverride != "" {
		rpID = a.RPIDOverride
	}
	h := sha256.Sum256([]byte(rpID))
	return h[:]
}

func (a *softAuthenticator) clientData(kind, challenge string) []byte {
	b, err := json.Marshal(map[string]any{"type": kind, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	require.NoError(a.t, err)
	return b
}

// Create answers navigator.credentials.create with the options of a
// register/begin step: the credential JSON to post to register/finish.
func (a *softAuthenticator) Create(body []byte) json.RawMessage {
	a.t.Helper()
	o := parseOptions(a.t, body)
	a.rpID = o.PublicKey.RP.ID
	uh, err := b64.DecodeString(o.PublicKey.User.ID)
	require.NoError(a.t, err, "user id")
	a.userHandle = uh
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: a.key.X.FillBytes(make([]byte, 32)), -3: a.key.Y.FillBytes(make([]byte, 32))})
	require.NoError(a.t, err)
	auth := append([]byte{}, a.rpHash(a.rpID)...)
	auth = append(auth, a.flags(true))
	auth = binary.BigEndian.AppendUint32(auth, a.Counter)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(a.credID)))
	auth = append(auth, a.credID...)
	auth = append(auth, cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	require.NoError(a.t, err)
	cd := a.clientData("webauthn.create", o.PublicKey.Challenge)
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att),
			"transports": []string{"internal"}},
		"clientExtensionResults": map[string]any{},
	})
	require.NoError(a.t, err)
	return out
}

// Get answers navigator.credentials.get with the options of a begin
// step (second factor, step-up, passwordless).
func (a *softAuthenticator) Get(body []byte) json.RawMessage {
	a.t.Helper()
	o := parseOptions(a.t, body)
	rpID := o.PublicKey.RPID
	if !a.Frozen {
		a.Counter++
	}
	auth := append([]byte{}, a.rpHash(rpID)...)
	auth = append(auth, a.flags(false))
	auth = binary.BigEndian.AppendUint32(auth, a.Counter)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), h[:]...)) // ES256 signs SHA-256(authData || hash(clientData))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	require.NoError(a.t, err)
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(auth),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(a.userHandle)},
		"clientExtensionResults": map[string]any{},
	})
	require.NoError(a.t, err)
	return out
}
