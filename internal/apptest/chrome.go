package apptest

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The viewport of the browser tests and their screenshots: a phone, 390 CSS
// pixels wide.
const (
	PhoneWidth  = 390
	PhoneHeight = 844
)

// ChromiumPath finds a Chromium binary, or skips the test (fails it when
// IDENTITY_REQUIRE_BROWSER=1, as CI sets).
func ChromiumPath(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat("/usr/bin/chromium"); err == nil && !st.IsDir() {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium binary (looked for /usr/bin/chromium and chromium, chromium-browser, google-chrome on PATH); install chromium to run the browser test"
	if os.Getenv("IDENTITY_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + ", and IDENTITY_REQUIRE_BROWSER=1 requires it")
	}
	t.Skip(msg)
	return ""
}

// ChromeOptions shapes the headless browser.
type ChromeOptions struct {
	// NoScript turns JavaScript off: the pages must work without it.
	NoScript bool
	// Timeout bounds the whole browser session (default 120 s; generous,
	// since the machine is small and shared).
	Timeout time.Duration
}

// Chrome is one headless Chromium at phone width, closed when the test ends.
type Chrome struct {
	t testing.TB
	// Ctx runs chromedp actions in the browser's tab.
	Ctx context.Context
	// Shots is the directory screenshots are written to (a temporary one).
	Shots string
}

// StartChrome starts headless Chromium with its own profile and a phone
// viewport, or skips the test when there is no Chromium (see ChromiumPath).
func StartChrome(t testing.TB, o ChromeOptions) *Chrome {
	t.Helper()
	path := ChromiumPath(t)
	if o.Timeout == 0 {
		o.Timeout = 120 * time.Second
	}
	parent, cancelParent := context.WithTimeout(context.Background(), o.Timeout)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	if o.NoScript {
		opts = append(opts, chromedp.Flag("blink-settings", "scriptEnabled=false"))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancelParent() })
	c := &Chrome{t: t, Ctx: bctx, Shots: t.TempDir()}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(PhoneWidth, PhoneHeight, chromedp.EmulateScale(1))); err != nil {
		t.Fatalf("start Chromium at phone width: %v", err)
	}
	return c
}

// Do runs chromedp steps, failing the test with the page's text when one
// fails; what names the step for the message.
func (c *Chrome) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.Ctx, steps...); err != nil {
		c.t.Fatalf("%s: %v; the browser shows %s", what, err, c.Text())
	}
}

// Text is the page's address and visible text, for assertions and failure
// messages.
func (c *Chrome) Text() string {
	at, _ := chromedp.Run(c.Ctx, chromedp.Location())
	text, _ := chromedp.Run(c.Ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return at + ": " + text
}

// Has reports whether the page has an element matching the CSS selector.
func (c *Chrome) Has(sel string) bool {
	js := `document.querySelector('` + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(sel) + `') !== null`
	ok, err := chromedp.Run(c.Ctx, chromedp.Evaluate[bool](js))
	return err == nil && ok
}

// Shot takes a full-page PNG screenshot, checks it is phone-wide, saves it
// under Shots and, with IDENTITY_WRITE_SCREENSHOTS=1, to docs/screenshots.
func (c *Chrome) Shot(name string) {
	c.t.Helper()
	shot, err := chromedp.Run(c.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		c.t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if w := img.Bounds().Dx(); w != PhoneWidth {
		c.t.Errorf("screenshot %s is %d px wide, want the phone width %d", name, w, PhoneWidth)
	}
	if h := img.Bounds().Dy(); h < 200 {
		c.t.Errorf("screenshot %s is only %d px high", name, h)
	}
	if err := os.WriteFile(filepath.Join(c.Shots, name), shot, 0o600); err != nil {
		c.t.Fatal(err)
	}
	if os.Getenv("IDENTITY_WRITE_SCREENSHOTS") != "1" {
		return
	}
	if len(shot) > 200<<10 {
		c.t.Errorf("screenshot %s is %d KB; keep the docs' copies under 200 KB", name, len(shot)>>10)
	}
	docs := filepath.Join(repoRoot(c.t), "docs", "screenshots")
	if err := os.MkdirAll(docs, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(docs, name), shot, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// repoRoot is the repository's root: two directories above this file.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// WaitText waits (up to 60 s) until the page's text contains want.
func (c *Chrome) WaitText(want string) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(c.Text(), want) {
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %q; the browser shows %s", want, c.Text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
