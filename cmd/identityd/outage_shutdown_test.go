package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// SIGTERM under load: the real binary stops accepting, finishes every request
// it accepted within IDENTITY_SHUTDOWN_GRACE, closes its pools and exits 0.
// "Accepted" is what the server logged as served (each request carries its
// own X-Request-Id): every one of those reached the client whole, with the
// status the server logged.
func TestOutageGracefulShutdownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		outageUnavailable(t, "no go tool to build the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "identityd")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	env := append(os.Environ(),
		"DATABASE_URL=sqlite:"+filepath.Join(dir, "identity.db"),
		"IDENTITY_DATA_DIR="+dir,
		"IDENTITY_SECRET=test-secret-test-secret-test-secret-0123456789",
		"IDENTITY_ADDR="+fmt.Sprintf("127.0.0.1:%d", port),
		"IDENTITY_ISSUER="+fmt.Sprintf("http://127.0.0.1:%d", port),
		"IDENTITY_BCRYPT_COST=10",
		// Every token request pays bcrypt: requests are in flight at SIGTERM.
		"IDENTITY_SECRET_CACHE_TTL=0",
		"IDENTITY_SHUTDOWN_GRACE=20s",
		"IDENTITY_PRUNE_INTERVAL=0",
		"IDENTITY_LOG_FORMAT=json",
		"REDIS_URL=",
	)
	cli := func(args ...string) map[string]any {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.Output()
		require.NoError(t, err, "identityd %v", args)
		var m map[string]any
		require.NoError(t, json.Unmarshal(out, &m))
		return m
	}
	cli("tenants", "create", "--slug", "shutdown", "--name", "Shutdown")
	cl := cli("clients", "create", "--tenant", "shutdown", "--grant-types", "client_credentials", "--scopes", "svc")
	clientID, secret := cl["client_id"].(string), cl["client_secret"].(string)

	var stderr bytes.Buffer
	var stderrMu sync.Mutex
	serve := exec.Command(bin, "serve")
	serve.Env = env
	pr, pw := io.Pipe()
	serve.Stderr = pw
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			stderrMu.Lock()
			stderr.Write(append(sc.Bytes(), '\n'))
			stderrMu.Unlock()
		}
	}()
	require.NoError(t, serve.Start())
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait(); _ = pw.Close() }()
	t.Cleanup(func() { _ = serve.Process.Kill() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, 60*time.Second, "identityd serves", func() bool {
		resp, err := http.Get(base + "/api/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	type outcome struct {
		status int
		err    error
	}
	var (
		mu       sync.Mutex
		outcomes = map[string]outcome{}
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	// Workers 0-7 request tokens (bcrypt: slow, in flight at SIGTERM);
	// workers 8-15 send fast POSTs on keep-alive connections (an API call
	// without credentials: 401), which is where cutting an idle keep-alive
	// connection under a request on its way shows.
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("sigterm-%d-%d", w, n)
				req, _ := http.NewRequest(http.MethodPost, base+"/api/oauth/token", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(clientID, secret)
				if w >= 8 {
					req, _ = http.NewRequest(http.MethodPost, base+"/api/authorizations/check", strings.NewReader(`{"permission":"x"}`))
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("X-Request-Id", id)
				resp, err := http.DefaultClient.Do(req)
				o := outcome{err: err}
				if err == nil {
					_, rerr := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					o = outcome{status: resp.StatusCode, err: rerr}
				}
				mu.Lock()
				outcomes[id] = o
				mu.Unlock()
				if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
					return // the listener is closed: nothing more is accepted
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	signalled := time.Now()
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "identityd exits 0 after SIGTERM")
	case <-time.After(60 * time.Second):
		t.Fatal("identityd did not exit within 60s of SIGTERM")
	}
	close(stop)
	wg.Wait()

	stderrMu.Lock()
	logs := stderr.String()
	stderrMu.Unlock()
	served, afterSignal := 0, 0
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			RequestID string    `json:"request_id"`
			Status    int       `json:"status"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "request" || !strings.HasPrefix(l.RequestID, "sigterm-") {
			continue
		}
		served++
		if l.Time.After(signalled) {
			afterSignal++
		}
		o, ok := outcomes[l.RequestID]
		if !ok || o.err != nil || o.status != l.Status {
			t.Errorf("request %s was served (%d) but dropped on the way to the client: status %d, error %v", l.RequestID, l.Status, o.status, o.err)
		}
	}
	if t.Failed() {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
				t.Log(line)
			}
		}
	}
	require.Positive(t, served)
	require.Positive(t, afterSignal, "requests in flight at SIGTERM were finished")
	require.Contains(t, logs, "every in-flight request finished")
	t.Logf("%d requests served, %d finished after SIGTERM, %d attempted", served, afterSignal, len(outcomes))
}
