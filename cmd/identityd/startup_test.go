package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/internal/apptest"
)

// stReadyBound is how long a test waits for a server to become ready: a
// bound on a hang, not a speed requirement.
const stReadyBound = 60 * time.Second

// stFreeAddr returns a loopback address nothing listens on.
func stFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return addr
}

// TestServeWithNoConfiguration starts `identityd serve` with nothing but a
// data directory and a port: it must migrate a fresh SQLite database,
// generate a development secret, answer discovery, and stop cleanly when
// its context ends. It waits on readiness (the "identityd ready" line, then
// discovery) with a generous bound: a loaded 2-core machine under -race may
// take many seconds to migrate and generate keys, and that is not a failure.
func TestServeWithNoConfiguration(t *testing.T) {
	dir := t.TempDir()
	addr := stFreeAddr(t)
	env := map[string]string{"IDENTITY_DATA_DIR": dir, "IDENTITY_ADDR": addr}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := &apptest.LogBuffer{}, &apptest.LogBuffer{}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- run(ctx, []string{"serve"}, cfgEnv(env), stdout, stderr) }()

	hc := &http.Client{Timeout: 10 * time.Second}
	var disc map[string]any
	for {
		if time.Since(start) > stReadyBound {
			t.Fatalf("discovery did not answer within %s of start; stderr: %s", stReadyBound, stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v; stderr: %s", err, stderr.String())
		default:
		}
		resp, err := hc.Get("http://" + addr + "/.well-known/openid-configuration")
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(raw, &disc); err != nil {
					t.Fatalf("discovery is not JSON: %s", raw)
				}
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("discovery answered %v after start", time.Since(start).Round(time.Millisecond))
	if disc["issuer"] != "http://localhost:8000" || disc["token_endpoint"] != "http://localhost:8000/api/oauth/token" {
		t.Errorf("discovery %v, want the default issuer", disc)
	}
	for _, p := range []string{"/.well-known/jwks.json", "/api/health"} {
		resp, err := hc.Get("http://" + addr + p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", p, resp.StatusCode)
		}
	}

	if _, err := os.Stat(filepath.Join(dir, "identity.db")); err != nil {
		t.Errorf("no SQLite database in the data dir: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "identity.secret")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("development secret file: %v %v", st, err)
	}
	logs := stderr.String()
	if !strings.Contains(logs, "IDENTITY_SECRET is not set") {
		t.Errorf("no warning about the generated secret in %s", logs)
	}
	if !strings.Contains(logs, "identityd ready") {
		t.Errorf("no ready line in %s", logs)
	}
	if stdout.String() != "" {
		t.Errorf("serve printed on stdout: %q", stdout.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(stReadyBound):
		t.Fatalf("serve did not return within %s of cancel", stReadyBound)
	}
	if _, err := hc.Get("http://" + addr + "/api/health"); err == nil {
		t.Error("the server still answers after run returned")
	}
}

// TestServeBadConfigurationStops checks that bad configuration stops serve
// at once with the variable named, and that a taken port is reported.
func TestServeBadConfigurationStops(t *testing.T) {
	t.Run("bad variable", func(t *testing.T) {
		env := map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_ADDR": stFreeAddr(t), "IDENTITY_BCRYPT_COST": "3"}
		err := run(t.Context(), []string{"serve"}, cfgEnv(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "IDENTITY_BCRYPT_COST") {
			t.Fatalf("serve with a bad cost: %v", err)
		}
	})
	t.Run("port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		env := map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_ADDR": ln.Addr().String()}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		stderr := &apptest.LogBuffer{}
		err = run(ctx, []string{"serve"}, cfgEnv(env), io.Discard, stderr)
		if err == nil || !strings.Contains(err.Error(), "IDENTITY_ADDR") || !strings.Contains(err.Error(), "cannot listen on "+ln.Addr().String()) {
			t.Fatalf("serve on a taken port: %v, want an IDENTITY_ADDR error naming the address", err)
		}
		if strings.Contains(stderr.String(), "identityd ready") {
			t.Fatalf("ready was logged although the port was taken: %s", stderr.String())
		}
	})
}

// TestReadyLoggedAfterBind: the moment "identityd ready" is in the log, the
// port accepts connections (the listener is bound before the line).
func TestReadyLoggedAfterBind(t *testing.T) {
	addr := stFreeAddr(t)
	env := map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_ADDR": addr}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &apptest.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, cfgEnv(env), io.Discard, stderr) }()
	deadline := time.Now().Add(stReadyBound)
	for !strings.Contains(stderr.String(), "identityd ready") {
		if time.Now().After(deadline) {
			t.Fatalf("no ready line within %s: %s", stReadyBound, stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v; %s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("ready was logged but %s refuses connections: %v", addr, err)
	}
	conn.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
