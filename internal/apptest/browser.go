package apptest

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// Browser is a user agent with a cookie jar that follows redirects within
// the server and stops at any redirect that leaves it (the client's
// redirect_uri, or anything else), so nothing off the server is ever fetched.
type Browser struct {
	t      testing.TB
	srv    *Server
	client *http.Client
	jar    *cookiejar.Jar
}

// NewBrowser returns a browser with an empty cookie jar, on s.
func (s *Server) NewBrowser(t testing.TB) *Browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	origin, err := url.Parse(s.URL)
	require.NoError(t, err)
	b := &Browser{t: t, srv: s, jar: jar}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != origin.Scheme || req.URL.Host != origin.Host {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

// Get fetches target, following redirects within the server.
func (b *Browser) Get(target string) *Result {
	b.t.Helper()
	resp, err := b.client.Get(target)
	require.NoError(b.t, err)
	return ReadResult(b.t, resp)
}

// Post posts form to target.
func (b *Browser) Post(target string, form url.Values) *Result {
	b.t.Helper()
	resp, err := b.client.PostForm(target, form)
	require.NoError(b.t, err)
	return ReadResult(b.t, resp)
}

// Cookie returns the value of the named cookie the browser holds for the server.
func (b *Browser) Cookie(name string) string {
	b.t.Helper()
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// Form is the first POST form of a page.
type Form struct {
	Action string
	Fields url.Values
	Hidden map[string]bool
}

// ParseForm finds the first form with method post in page and its inputs.
func ParseForm(t testing.TB, page *Result) *Form {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(string(page.Body)))
	require.NoError(t, err)
	var form *Form
	var walk func(n *html.Node, in *Form)
	walk = func(n *html.Node, in *Form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				if form == nil && strings.EqualFold(Attr(n, "method"), "post") {
					action, err := page.URL.Parse(Attr(n, "action"))
					require.NoError(t, err)
					form = &Form{Action: action.String(), Fields: url.Values{}, Hidden: map[string]bool{}}
					in = form
				}
			case "input":
				if in != nil && Attr(n, "name") != "" {
					typ := strings.ToLower(Attr(n, "type"))
					if typ != "checkbox" && typ != "radio" && typ != "submit" {
						in.Fields.Set(Attr(n, "name"), Attr(n, "value"))
						in.Hidden[Attr(n, "name")] = typ == "hidden"
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(doc, nil)
	require.NotNil(t, form, "no POST form on page %s: %s", page.URL, page.Body)
	return form
}

// Attr is the value of n's attribute name, or "".
func Attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// LoginAs fills and submits a login page.
func (b *Browser) LoginAs(page *Result, tenantSlug, email, password string) *Result {
	b.t.Helper()
	f := ParseForm(b.t, page)
	require.NotEmpty(b.t, f.Fields.Get("csrf"), "login form has a csrf field")
	require.True(b.t, f.Hidden["csrf"], "csrf is hidden")
	require.NotEmpty(b.t, f.Fields.Get("return_to"), "login form carries the signed return_to")
	require.True(b.t, f.Hidden["return_to"], "return_to is hidden")
	for _, name := range []string{"tenant", "email", "password"} {
		require.Contains(b.t, f.Fields, name, "login form field %s", name)
	}
	if f.Fields.Get("tenant") == "" {
		f.Fields.Set("tenant", tenantSlug)
	}
	f.Fields.Set("email", email)
	f.Fields.Set("password", password)
	return b.Post(f.Action, f.Fields)
}

// Decide submits a consent page with decision allow or deny.
func (b *Browser) Decide(page *Result, decision string) *Result {
	b.t.Helper()
	f := ParseForm(b.t, page)
	require.NotEmpty(b.t, f.Fields.Get("csrf"), "consent form has a csrf field")
	f.Fields.Set("decision", decision)
	return b.Post(f.Action, f.Fields)
}

// IsPage reports whether res is the server's page at path.
func (b *Browser) IsPage(res *Result, path string) bool {
	return res.Status == http.StatusOK && res.URL.Path == path && strings.HasPrefix(res.URL.String(), b.srv.URL)
}

// Flow is what driving an authorization request through the pages gave.
type Flow struct {
	// Callback is the redirect that left the server (to the client), or nil.
	Callback *url.URL
	// Last is the last response (the redirect itself when Callback is set).
	Last *Result
	// LoginPages and ConsentPages count the pages shown.
	LoginPages, ConsentPages int
}

// Code returns the code of a successful callback, checking the state.
func (f *Flow) Code(t testing.TB, state string) string {
	t.Helper()
	require.NotNil(t, f.Callback, "authorization ended without a redirect to the client: %d %s", f.Last.Status, f.Last.Body)
	q := f.Callback.Query()
	require.Empty(t, q.Get("error"), "authorization error: %s: %s", q.Get("error"), q.Get("error_description"))
	require.Equal(t, state, q.Get("state"))
	require.NotEmpty(t, q.Get("code"))
	return q.Get("code")
}

// Error returns the error code of the callback.
func (f *Flow) Error(t testing.TB) string {
	t.Helper()
	require.NotNil(t, f.Callback, "authorization ended without a redirect to the client: %d %s", f.Last.Status, f.Last.Body)
	require.Empty(t, f.Callback.Query().Get("code"), "no code with an error")
	return f.Callback.Query().Get("error")
}

// Authorize opens authURL and drives the pages: it signs in as the env's
// user when a login page appears (when login is true; else it stops there)
// and answers a consent page with decision (stopping there when empty).
func (b *Browser) Authorize(e *Env, authURL string, login bool, decision string) *Flow {
	b.t.Helper()
	f := &Flow{}
	res := b.Get(authURL)
	for i := 0; i < 6; i++ {
		f.Last = res
		if loc := res.Location(b.t); loc != nil && res.Status >= 300 && res.Status < 400 {
			require.Equal(b.t, RedirectURI, loc.Scheme+"://"+loc.Host+loc.Path, "the only redirect off the server goes to the registered redirect_uri")
			f.Callback = loc
			return f
		}
		switch {
		case b.IsPage(res, "/login"):
			f.LoginPages++
			if !login {
				return f
			}
			res = b.LoginAs(res, e.Tenant.Slug, e.User.Email, Password)
		case b.IsPage(res, "/consent"):
			f.ConsentPages++
			if decision == "" {
				return f
			}
			res = b.Decide(res, decision)
		default:
			return f
		}
	}
	b.t.Fatalf("authorization did not finish: %d %s %s", res.Status, res.URL, res.Body)
	return nil
}

// Server is the server the browser talks to.
func (b *Browser) Server() *Server { return b.srv }

// HTTPClient is the browser's client (its cookie jar and redirect rule),
// for requests the helpers do not cover.
func (b *Browser) HTTPClient() *http.Client { return b.client }
