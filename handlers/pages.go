package handlers

import (
	"bytes"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/templates"
)

// The browser's cookies.
const (
	// sessionCookie carries the browser's login session (the login page
	// sets it; authorization, consent and the account page read it).
	sessionCookie = "identity_session"
	// deviceCookie carries the device token of a browser (2FA trust, PIN login).
	deviceCookie    = "identity_device"
	deviceCookieTTL = 400 * 24 * time.Hour
)

// currentLogin returns the browser's login session and user, if any.
func (s *Server) currentLogin(c echo.Context) (*models.LoginSession, *models.User) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	ls, u, err := s.Login.BrowserSession(c.Request().Context(), ck.Value)
	if err != nil {
		return nil, nil
	}
	return ls, u
}

// loadPages parses every page template once, at start-up.
func (s *Server) loadPages() error {
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"login", "consent", "logout", "message", "twofactor", "password_change", "account", "profile", "forgot_password", "reset_password", "invitation", "apps",
		"register", "verify_email", "twofactor_enrol", "twofactor_enrolled",
		"federation_link"} {
		t, err := template.New(name).ParseFS(templates.FS, "pages/layout.html", "pages/"+name+".html")
		if err != nil {
			return fmt.Errorf("parse page %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

// render writes a page. Pages are never cached and never framed.
func (s *Server) render(c echo.Context, status int, name string, data map[string]any) error {
	return s.renderPage(c, status, name, data, nil)
}

// renderPage writes a page whose forms may also end at formTargets (CSP
// sources): browsers check form-action against every redirect that follows
// a form submission, and login and consent end with a redirect to the
// client's redirect URI.
func (s *Server) renderPage(c echo.Context, status int, name string, data map[string]any, formTargets []string) error {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	formAction := strings.Join(append([]string{"'self'"}, formTargets...), " ")
	scripts := ""
	if pk, _ := data["Passkeys"].(bool); pk { // passkeys.js, and its fetches to the passkey API (issue 12 §2)
		scripts = "script-src 'self'; connect-src 'self'; "
	}
	h.Set("Content-Security-Policy", "default-src 'none'; "+scripts+"style-src 'self'; img-src 'self' data:; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Server) renderMessage(c echo.Context, status int, title, msg string, isErr bool) error {
	return s.render(c, status, "message", map[string]any{"Title": title, "Message": msg, "Error": isErr})
}

// redirectSources returns the CSP sources of the origins of a client's
// redirect URIs: scheme://host[:port] (any port for loopback hosts, which
// RFC 8252 §7.3 lets the client choose at run time) or scheme: for a
// private-use scheme.
func redirectSources(uris []string) []string {
	var out []string
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			continue
		}
		src := u.Scheme + ":"
		if u.Scheme == "http" || u.Scheme == "https" {
			if u.Hostname() == "" {
				continue
			}
			host := u.Host
			switch u.Hostname() {
			case "127.0.0.1", "::1", "localhost":
				if p := u.Port(); p != "" {
					host = strings.TrimSuffix(host, ":"+p)
				}
				host += ":*"
			}
			src = u.Scheme + "://" + host
		}
		if strings.Trim(src, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.:/[]*") != "" || slices.Contains(out, src) {
			continue
		}
		out = append(out, src)
	}
	return out
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string)
	return t
}
