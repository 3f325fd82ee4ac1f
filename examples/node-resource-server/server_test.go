package noderesourceserver_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/examples/internal/exampletest"
	"github.com/identityd/identityd/internal/apptest"
)

const ordersAudience = "https://orders.example"

// nodeServer is a running `node server.js`.
type nodeServer struct {
	URL string
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startNode runs server.js against issuer on a port the system picks, and
// waits (up to 60 s) until it says where it listens.
func startNode(t *testing.T, issuer string) *nodeServer {
	t.Helper()
	dir := exampletest.NodeModules(t, ".")
	node := exampletest.Node(t)
	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IDENTITY_ISSUER="+issuer, "API_AUDIENCE="+ordersAudience, "HOST=127.0.0.1", "PORT=0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	found := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = logs.Write([]byte(sc.Text() + "\n"))
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case url := <-found:
		return &nodeServer{URL: url, out: logs}
	case <-exited:
		t.Fatalf("node server.js exited before listening: %s", logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("node server.js did not listen within 60 s: %s", logs)
	}
	return nil
}

type answer struct {
	status    int
	challenge string
	body      string
}

func (n *nodeServer) call(t *testing.T, method, path, token string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	require.NoError(t, err, "node logs: %s", n.out)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate"), body: string(body)}
}

func TestNodeResourceServer(t *testing.T) {
	t.Parallel()
	exampletest.NodeModules(t, ".")
	exampletest.Node(t)
	bs := apptest.Backends(t)
	env := apptest.NewEnv(t, bs[len(bs)-1], nil)
	jwtClient := func(aud string) *apptest.CreatedClient {
		return env.ServiceClient(t, func(c *apptest.NewClient) { c.AccessTokenFormat = "jwt"; c.Audience = []string{aud} })
	}
	orders, billing := jwtClient(ordersAudience), jwtClient("https://billing.example")
	opaque := env.ServiceClient(t, nil)
	token := func(cc *apptest.CreatedClient, scopes ...string) string {
		tok, err := env.ClientCredentialsConfig(cc.Client.ID, cc.Secret, oauth2.AuthStyleInHeader, scopes...).Token(t.Context())
		require.NoError(t, err)
		return tok.AccessToken
	}
	srv := startNode(t, env.URL)
	read := token(orders, "orders.read")

	t.Run("valid token", func(t *testing.T) {
		a := srv.call(t, http.MethodGet, "/api/orders", read)
		require.Equal(t, http.StatusOK, a.status, a.body)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(a.body), &got))
		require.Equal(t, orders.Client.ID, got["client_id"])
	})
	t.Run("no token", func(t *testing.T) {
		a := srv.call(t, http.MethodGet, "/api/orders", "")
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
		require.Equal(t, `Bearer realm="orders"`, a.challenge)
	})
	t.Run("wrong audience", func(t *testing.T) {
		a := srv.call(t, http.MethodGet, "/api/orders", token(billing, "orders.read"))
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
		require.Contains(t, a.challenge, `error="invalid_token"`)
	})
	t.Run("tampered token", func(t *testing.T) {
		a := srv.call(t, http.MethodGet, "/api/orders", tamper(t, read))
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
	})
	t.Run("opaque token", func(t *testing.T) {
		a := srv.call(t, http.MethodGet, "/api/orders", token(opaque, "orders.read"))
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
	})
	t.Run("missing scope", func(t *testing.T) {
		a := srv.call(t, http.MethodPost, "/api/orders", read)
		require.Equal(t, http.StatusForbidden, a.status, a.body)
		require.Equal(t, `Bearer realm="orders", error="insufficient_scope", scope="orders.write"`, a.challenge)
		w := srv.call(t, http.MethodPost, "/api/orders", token(orders, "orders.write"))
		require.Equal(t, http.StatusCreated, w.status, w.body)
	})
	t.Run("key set unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		down := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		other := startNode(t, down)
		a := other.call(t, http.MethodGet, "/api/orders", read)
		require.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
	})
}

// tamper widens the token's scope without re-signing it.
func tamper(t *testing.T, token string) string {
	return exampletest.TamperScope(t, token, "orders.read orders.write")
}
