package main

// The outage suite's own dependencies: a PostgreSQL cluster (initdb and
// pg_ctl into a temporary directory, on a free port), a redis-server on a
// free port, and a TCP proxy that can cut one instance off Redis. Faults are
// real: a service stopped, frozen with SIGSTOP and resumed with SIGCONT,
// Redis restarted empty, a connection cut.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityd/identityd/storage/storagetest"
)

// outageRequired reports whether the suite must run (and fail when it cannot
// start its services): in CI, or wherever the PostgreSQL tests run.
func outageRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv(storagetest.EnvDatabaseURL) != ""
}

// outageUnavailable fails the test in CI (or with the PostgreSQL tests on)
// and skips it elsewhere: a laptop without PostgreSQL still runs go test.
func outageUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if outageRequired() {
		t.Fatalf("outage suite: "+format, args...)
	}
	t.Skipf("outage suite: "+format+" (set CI=true or %s to make this a failure)", append(args, storagetest.EnvDatabaseURL)...)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond every 50 ms until it holds or bound passes.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pgCluster is a PostgreSQL cluster of the test's own.
type pgCluster struct {
	t      *testing.T
	bin    string
	dir    string
	port   int
	asUser string // run the server binaries as this user (root cannot)
}

// startPG creates and starts a cluster, or ends the test through
// outageUnavailable when PostgreSQL is not installed.
func startPG(t *testing.T) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if p, err := exec.LookPath("initdb"); err == nil && len(bins) == 0 {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		bins = append(bins, p)
	}
	if len(bins) == 0 {
		outageUnavailable(t, "no initdb found (PostgreSQL server binaries)")
	}
	sort.Strings(bins)
	pg := &pgCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	// t.TempDir is private to this user; the cluster may belong to another.
	root, err := os.MkdirTemp("", "identity-outage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	pg.dir = filepath.Join(root, "data")
	if err := os.Mkdir(pg.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the cluster as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			outageUnavailable(t, "running as root and there is no postgres user to own the cluster")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = os.Chmod(root, 0o755)
		if err := os.Chown(pg.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asUser = "postgres"
	}
	if out, err := pg.run("initdb", "-D", pg.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		outageUnavailable(t, "initdb: %v: %s", err, out)
	}
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = ''\nfsync = off\nmax_connections = 100\nshared_buffers = 32MB\n", pg.port)
	f, err := os.OpenFile(filepath.Join(pg.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(conf)
	_ = f.Close()
	pg.Start()
	t.Cleanup(func() {
		pg.signalAll(syscall.SIGCONT)
		_, _ = pg.run("pg_ctl", "-D", pg.dir, "-m", "immediate", "-w", "stop")
	})
	return pg
}

// run runs one of the cluster's binaries (as the cluster's owner).
func (pg *pgCluster) run(name string, args ...string) ([]byte, error) {
	bin := filepath.Join(pg.bin, name)
	var cmd *exec.Cmd
	if pg.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", pg.asUser, "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// URL is the connection string of database name.
func (pg *pgCluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// Start starts the server and waits until it accepts connections.
func (pg *pgCluster) Start() {
	pg.t.Helper()
	logFile := filepath.Join(pg.dir, "server.log")
	if out, err := pg.run("pg_ctl", "-D", pg.dir, "-l", logFile, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		outageUnavailable(pg.t, "pg_ctl start: %v: %s\n%s", err, out, log)
	}
}

// Stop stops the server (fast: open connections are cut).
func (pg *pgCluster) Stop() {
	pg.t.Helper()
	if out, err := pg.run("pg_ctl", "-D", pg.dir, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v: %s", err, out)
	}
}

// CreateDB creates database name.
func (pg *pgCluster) CreateDB(name string) {
	pg.t.Helper()
	if out, err := pg.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", "postgres", name); err != nil {
		pg.t.Fatalf("createdb: %v: %s", err, out)
	}
}

// pids is the postmaster and every process it started.
func (pg *pgCluster) pids() []int {
	b, err := os.ReadFile(filepath.Join(pg.dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	master, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return nil
	}
	return append([]int{master}, childrenOf(master)...)
}

// signalAll sends sig to the postmaster and its children (SIGSTOP freezes
// the whole server: the backends run the queries, not the postmaster).
func (pg *pgCluster) signalAll(sig syscall.Signal) {
	for _, pid := range pg.pids() {
		_ = syscall.Kill(pid, sig)
	}
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so cut at the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				out = append(out, n)
			}
		}
	}
	return out
}

// redisServer is a redis-server of the test's own, without persistence: a
// restart comes back empty.
type redisServer struct {
	t    *testing.T
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		outageUnavailable(t, "no redis-server found")
	}
	r := &redisServer{t: t, port: freePort(t)}
	r.Start()
	t.Cleanup(func() { r.Stop() })
	return r
}

// URL is the redis:// URL of the server.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Addr is host:port.
func (r *redisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// Start starts an empty server and waits until it answers.
func (r *redisServer) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", r.t.TempDir())
	if err := cmd.Start(); err != nil {
		outageUnavailable(r.t, "redis-server: %v", err)
	}
	r.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for c.Ping(r.t.Context()).Err() != nil {
		if time.Now().After(deadline) {
			outageUnavailable(r.t, "redis-server on port %d did not answer", r.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server and waits for it.
func (r *redisServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT)
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Signal sends sig (SIGSTOP, SIGCONT) to the server.
func (r *redisServer) Signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// tcpProxy forwards connections to a target until it is cut; while cut it
// drops every connection (open ones and new ones), as a partition would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.Cut() })
	return p
}

// URL is the redis:// URL through the proxy.
func (p *tcpProxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, bufio.NewReader(src))
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// Cut drops every connection and refuses new ones until Heal.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Heal lets connections through again.
func (p *tcpProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}
