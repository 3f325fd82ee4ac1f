package handlers

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/identity/identity/templates"
)

func (s *Server) loadPages() error {
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"login", "consent", "logout", "message", "twofactor", "password_change", "account"} {
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
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Server) renderMessage(c echo.Context, status int, title, msg string, isErr bool) error {
	return s.render(c, status, "message", map[string]any{"Title": title, "Message": msg, "Error": isErr})
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string)
	return t
}
