package apptest

import (
	"fmt"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
)

// TOTPAt is the TOTP code of secret at when (30 s steps, six digits, SHA-1:
// what the server enrols).
func TOTPAt(t testing.TB, secret string, when time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, when, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err, "totp")
	return code
}

// TOTP is the code of secret at the current step plus offset steps.
func TOTP(t testing.TB, secret string, offset int) string {
	t.Helper()
	return TOTPAt(t, secret, time.Now().Add(time.Duration(offset)*30*time.Second))
}

// WrongTOTP is a 6-digit code that is none of the codes the server accepts
// now (it tries the current step and one either side).
func WrongTOTP(t testing.TB, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for off := -2; off <= 2; off++ {
		valid[TOTP(t, secret, off)] = true
	}
	for n := 100000; ; n++ {
		if c := fmt.Sprint(n); !valid[c] {
			return c
		}
	}
}
