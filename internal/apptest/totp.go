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

// totpMargin is how close to the end of a 30-second step TOTP refuses to
// compute a code: a code for step s-1 computed just before s+1 begins
// would reach the server as s-2 and be refused (a CI run failed so).
const totpMargin = 5 * time.Second

// TOTP is the code of secret at the current step plus offset steps. Near
// the end of a step it first waits for the next one to begin, so the step
// the code is for is the step the server is in when the request arrives.
func TOTP(t testing.TB, secret string, offset int) string {
	t.Helper()
	now := time.Now()
	if left := 30*time.Second - now.Sub(now.Truncate(30*time.Second)); left < totpMargin {
		time.Sleep(left + 50*time.Millisecond)
		now = time.Now()
	}
	return TOTPAt(t, secret, now.Add(time.Duration(offset)*30*time.Second))
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
