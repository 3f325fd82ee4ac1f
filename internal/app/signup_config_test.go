package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
)

// TestRegisterConfig: the variables parse, default on, and a bad one
// stops the start naming itself.
func TestRegisterConfig(t *testing.T) {
	load := func(env map[string]string) (*Config, error) {
		return LoadConfig(WithDefaults(func(k string) string { return env[k] }))
	}
	cfg, err := load(map[string]string{"IDENTITY_DATA_DIR": t.TempDir()})
	require.NoError(t, err)
	require.True(t, cfg.SignupEnabled)
	require.True(t, cfg.SignupCompanyCreation)
	require.Empty(t, cfg.SignupAllowedDomains)
	require.Equal(t, identity.Limit{Name: "register", Rate: 10, Period: time.Hour}, cfg.RateRegister)
	cfg, err = load(map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_SIGNUP_ENABLED": "0", "IDENTITY_SIGNUP_COMPANY_CREATION": "off",
		"IDENTITY_SIGNUP_ALLOWED_DOMAINS": " Example.com, @corp.example.org ", "IDENTITY_RATE_REGISTER": "3/10m"})
	require.NoError(t, err)
	require.False(t, cfg.SignupEnabled)
	require.False(t, cfg.SignupCompanyCreation)
	require.Equal(t, []string{"example.com", "corp.example.org"}, cfg.SignupAllowedDomains)
	require.Equal(t, identity.Limit{Name: "register", Rate: 3, Period: 10 * time.Minute}, cfg.RateRegister)
	_, err = load(map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_SIGNUP_ENABLED": "maybe", "IDENTITY_SIGNUP_COMPANY_CREATION": "2",
		"IDENTITY_SIGNUP_ALLOWED_DOMAINS": "localhost,bad_domain.com", "IDENTITY_RATE_REGISTER": "lots"})
	require.Error(t, err)
	for _, name := range []string{"IDENTITY_SIGNUP_ENABLED", "IDENTITY_SIGNUP_COMPANY_CREATION", "IDENTITY_SIGNUP_ALLOWED_DOMAINS: \"localhost\"",
		"IDENTITY_SIGNUP_ALLOWED_DOMAINS: \"bad_domain.com\"", "IDENTITY_RATE_REGISTER"} {
		require.Contains(t, err.Error(), name)
	}
}
