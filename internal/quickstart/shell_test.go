package quickstart

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// shell is one bash process that runs the README's blocks one after
// another, as a person pasting them into one terminal would: variables set
// by a block are there for the next.
type shell struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // bash's own stdout: only the test's markers
	dir    string
	n      int
	stderr *syncBuffer // what bash itself says outside the blocks
}

// doneMarker ends each step on bash's stdout, with the step's status.
const doneMarker = "__quickstart_done__"

// failedMarker is what the ERR trap writes to a block's stderr for every
// command that failed, so a failure in the middle of a block is not hidden
// by a later command that succeeds.
const failedMarker = "__quickstart_failed__"

// stepTimeout bounds one block; every block is a few HTTP calls and CLI
// runs, so reaching it means something hangs.
const stepTimeout = 3 * time.Minute

// startShell starts bash in dir with env. errtrace and the ERR trap report
// each failing command; pipefail makes `X=$(curl … | jq …)` fail when curl
// does. Neither changes what a command does.
func startShell(bash, dir string, env []string) (*shell, error) {
	cmd := exec.Command(bash, "--noprofile", "--norc", "-o", "pipefail", "-o", "errtrace")
	cmd.Dir = dir
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bash stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bash stdout: %w", err)
	}
	s := &shell{cmd: cmd, stdin: stdin, lines: make(chan string, 16), dir: dir, stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bash: %w", err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	trap := fmt.Sprintf("trap 'printf \"%s line %%s: %%s (status %%s)\\n\" \"$LINENO\" \"$BASH_COMMAND\" \"$?\" >&2' ERR\n", failedMarker)
	if _, _, _, err := s.step(trap); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// run sources script in the shell and returns its stdout, its stderr and
// the status of its last command.
func (s *shell) run(script string) (stdout, stderr string, status int, err error) {
	return s.step(script)
}

func (s *shell) step(script string) (string, string, int, error) {
	s.n++
	base := filepath.Join(s.dir, fmt.Sprintf("step-%02d", s.n))
	if err := os.WriteFile(base+".sh", []byte(script), 0o600); err != nil {
		return "", "", 0, fmt.Errorf("write the step: %w", err)
	}
	line := fmt.Sprintf("{ . %s; } >%s 2>%s; printf '%s %%d\\n' \"$?\"\n",
		quote(base+".sh"), quote(base+".out"), quote(base+".err"), doneMarker)
	if _, err := io.WriteString(s.stdin, line); err != nil {
		return "", "", 0, fmt.Errorf("send the step to bash: %w (bash said: %s)", err, s.stderr)
	}
	status, err := s.wait()
	out, _ := os.ReadFile(base + ".out")
	errOut, _ := os.ReadFile(base + ".err")
	return string(out), string(errOut), status, err
}

func (s *shell) wait() (int, error) {
	timeout := time.After(stepTimeout)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return 0, fmt.Errorf("bash exited (it said: %s)", s.stderr)
			}
			if rest, found := strings.CutPrefix(l, doneMarker+" "); found {
				return strconv.Atoi(rest)
			}
		case <-timeout:
			return 0, fmt.Errorf("the step did not finish within %s", stepTimeout)
		}
	}
}

// get is the value of the shell variable name.
func (s *shell) get(name string) (string, error) {
	if !shellName.MatchString(name) {
		return "", fmt.Errorf("not a variable name: %q", name)
	}
	out, _, _, err := s.step(fmt.Sprintf("printf '%%s' \"${%s-}\"\n", name))
	return out, err
}

// set assigns value to the shell variable name, as a pasted NAME='value'
// line would.
func (s *shell) set(name, value string) error {
	if !shellName.MatchString(name) {
		return fmt.Errorf("not a variable name: %q", name)
	}
	_, errOut, status, err := s.step(name + "=" + quote(value) + "\n")
	if err == nil && status != 0 {
		err = fmt.Errorf("setting %s failed: %s", name, errOut)
	}
	return err
}

func (s *shell) close() {
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// quote single-quotes s for bash.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine and
// the test's readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
