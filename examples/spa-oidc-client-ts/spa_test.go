package spa_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/examples/internal/exampletest"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// spa is the example app served from its directory on its own origin
// (http://localhost:PORT), with identityd (at 127.0.0.1: another origin)
// and a public client for it.
type spa struct {
	origin string
	id     *apptest.Env
	// metadata, when set, is served in config.js (no discovery request).
	metadata map[string]any
}

// newSPA starts the SPA's server, then identityd (with the SPA's origin in
// IDENTITY_CORS_ORIGINS when cors is true), a tenant, a user and the
// public client "spa" of the README.
func newSPA(t *testing.T, cors bool) *spa {
	t.Helper()
	dir := exampletest.NodeModules(t, ".")
	s := &spa{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s.origin = "http://localhost:" + port

	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, r *http.Request) {
		cfg := map[string]any{"authority": s.id.URL, "client_id": "spa", "scope": "openid profile email offline_access"}
		if s.metadata != nil {
			cfg["metadata"] = s.metadata
		}
		b, _ := json.Marshal(cfg)
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write([]byte("window.SPA_CONFIG = " + string(b) + ";\n"))
	})
	mux.Handle("GET /", http.FileServer(http.Dir(dir)))
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	bs := apptest.Backends(t)
	s.id = apptest.NewEnv(t, bs[len(bs)-1], func(c *app.Config) {
		if cors {
			c.CORSOrigins = []string{s.origin}
		}
	})
	s.id.Client(t, apptest.NewClient{
		ID: "spa", Name: "SPA example", Public: true,
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "profile", "email", "offline_access"},
		RedirectURIs:           []string{s.origin + "/callback.html"},
		PostLogoutRedirectURIs: []string{s.origin + "/"},
	})
	return s
}

// signInOnIdentityd fills identityd's login page (the tenant too when it
// asks for it) and allows the consent page.
func (s *spa) signInOnIdentityd(t *testing.T, b *apptest.Chrome) {
	t.Helper()
	b.Do("reach identityd's login page", chromedp.WaitVisible(chromedp.ID("email")))
	loc, err := chromedp.Run(b.Ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc, s.id.URL+"/login?"), "the sign-in button leads to identityd's login page, not %s", loc)
	if b.Has(`input#tenant`) {
		b.Do("tenant", chromedp.SendKeys(chromedp.ID("tenant"), s.id.Tenant.Slug))
	}
	b.Do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), s.id.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]:not([name])`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)),
	)
	b.Do("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
}

func TestSPASignsInWithCORS(t *testing.T) {
	t.Parallel()
	s := newSPA(t, true)
	b := apptest.StartChrome(t, apptest.ChromeOptions{Timeout: 120 * time.Second})

	b.Do("open the SPA", chromedp.Navigate(s.origin+"/"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.WaitText("You are not signed in.")
	b.Do("click sign in", chromedp.Click(chromedp.ID("sign-in")))
	s.signInOnIdentityd(t, b)

	// Back on the SPA: the code was exchanged (a cross-origin POST) and
	// the ID token's subject is the user.
	b.Do("back on the SPA", chromedp.WaitVisible(chromedp.ID("subject")))
	loc, err := chromedp.Run(b.Ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, s.origin+"/", loc)
	sub, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("subject")))
	require.NoError(t, err)
	require.Equal(t, s.id.User.ID, sub)
	b.WaitText("Signed in as " + s.id.User.Email)

	// UserInfo, fetched cross-origin with the access token (a preflighted
	// request: the Authorization header), came back and was readable.
	// The claims block above shows the same text, so wait on #userinfo
	// itself: it holds "…" until the answer is in.
	b.Do("userinfo shown", chromedp.Poll[chromedp.Void](`document.getElementById('userinfo').textContent.trim().startsWith('{')`, chromedp.WithPollingTimeout(60*time.Second)))
	info, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("userinfo")))
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(info), &got), "userinfo shown: %s", info)
	require.Equal(t, s.id.User.ID, got["sub"])
	require.False(t, b.Has(`#error:not([hidden])`), "no error: %s", b.Text())
	b.Shot("spa-signed-in.png")

	// The same answer outside the browser carries the CORS header for the
	// SPA's origin (what let the page read it).
	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, s.id.URL+"/api/oauth/userinfo", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", s.origin)
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	require.Equal(t, s.origin, res.Header.Get("Access-Control-Allow-Origin"))

	// Sign out: identityd asks, then returns to the SPA.
	b.Do("sign out", chromedp.Click(chromedp.ID("sign-out")))
	b.Do("identityd's logout page", chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)))
	loc, err = chromedp.Run(b.Ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc, s.id.URL+"/logout?"), "sign out goes to identityd's end-session endpoint, not %s", loc)
	b.Do("confirm", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)))
	b.WaitText("You are signed out.")
	loc, err = chromedp.Run(b.Ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, s.origin+"/", loc)
	require.True(t, b.Has(`#sign-in:not([hidden])`), "the sign-in button is back: %s", b.Text())
	require.True(t, b.Has(`#session[hidden]`), "no session shown: %s", b.Text())
}

func TestSPAFailsWithoutCORS(t *testing.T) {
	t.Parallel()
	s := newSPA(t, false)
	b := apptest.StartChrome(t, apptest.ChromeOptions{Timeout: 120 * time.Second})

	// The discovery document cannot be read cross-origin: the sign-in
	// cannot even start, and the SPA says so.
	b.Do("open the SPA", chromedp.Navigate(s.origin+"/"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.Do("click sign in", chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("error")))
	b.WaitText("Could not start the sign-in")
	loc, err := chromedp.Run(b.Ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, s.origin+"/", loc, "still on the SPA")

	// With the metadata given in its configuration the SPA skips
	// discovery and gets through the sign-in pages (plain navigations), but
	// the token request is cross-origin: the browser does not let the SPA
	// read identityd's answer, and the sign-in fails there.
	res, err := http.Get(s.id.URL + "/.well-known/openid-configuration")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&s.metadata))
	res.Body.Close()
	b.Do("reload the SPA", chromedp.Navigate(s.origin+"/"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.Do("click sign in", chromedp.Click(chromedp.ID("sign-in")))
	s.signInOnIdentityd(t, b)
	b.Do("the callback shows an error", chromedp.WaitVisible(chromedp.ID("error")))
	b.WaitText("Sign-in failed")
	loc, err = chromedp.Run(b.Ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc, s.origin+"/callback.html?"), "the error is on the SPA's callback page, not %s", loc)
	require.False(t, b.Has(`#subject`), "no session")
}
