package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// Every string that reaches a handler passes through rejectControlChars
// first: path parameters, the query string, form fields and every string
// (and object key) of a JSON body, at any depth. A control character
// (U+0000–U+001F, U+007F–U+009F: NUL, tab, newline and the rest) or a byte
// sequence that is not UTF-8 is refused before any handler, rate limiter or
// database sees it: PostgreSQL refuses NUL and invalid UTF-8 in text (the
// request would fail with a 500), SQLite stores them, and neither is ever
// part of a legitimate name, e-mail, password, code or identifier here.
//
// No field of this API is multi-line text (names, descriptions, reasons are
// one line), so tab and newline are refused everywhere too. A field that
// one day needs several lines must be added to multiLineFields, and its
// template must render it escaped (html/template does).
//
// The answer is 422 validation_failed naming the field for the JSON API and
// the error page (422, naming the field) for the HTML forms. The OAuth
// endpoints (/api/oauth/*) are left to fosite, which must answer in RFC 6749
// form: a NUL client_id is invalid_client, a NUL token introspects inactive,
// a bad state still reaches the login page (TestBadInput holds them to it,
// and TestControlCharactersRefusedEverywhere to never answering 500). Path
// parameters are checked; an unmatched path is a plain 404.

// multiLineFields may hold tab, CR and LF (other control characters never).
var multiLineFields = map[string]bool{}

// badText is identity.BadText: the CLI applies the same rule.
func badText(s string, multiLine bool) bool { return identity.BadText(s, multiLine) }

// controlCharError names the first bad field (in a stable order).
func controlCharError(field string) *models.Error {
	return models.ErrInvalid(map[string]string{field: "Remove control characters (such as NUL, tab or line breaks); use plain UTF-8 text."}).
		WithMessage("The field " + strconv.Quote(field) + " contains a control character or invalid text.")
}

// firstBadValue returns the first key of vals (sorted) with a bad key or value.
func firstBadValue(vals url.Values) (string, bool) {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if badText(k, false) {
			return "query", true
		}
		for _, v := range vals[k] {
			if badText(v, multiLineFields[k]) {
				return k, true
			}
		}
	}
	return "", false
}

// firstBadJSON walks a decoded JSON value and returns the path of the first
// bad string ("name", "roles[1]", "profile.city").
func firstBadJSON(path string, v any) (string, bool) {
	switch x := v.(type) {
	case string:
		leaf := path // the field's own name: "notes" for "items[2].notes[0]"
		for strings.HasSuffix(leaf, "]") {
			if i := strings.LastIndexByte(leaf, '['); i >= 0 {
				leaf = leaf[:i]
			} else {
				break
			}
		}
		if i := strings.LastIndexByte(leaf, '.'); i >= 0 {
			leaf = leaf[i+1:]
		}
		if badText(x, multiLineFields[leaf]) {
			if path == "" {
				path = "body"
			}
			return path, true
		}
	case []any:
		for i, e := range x {
			if p, bad := firstBadJSON(path+"["+strconv.Itoa(i)+"]", e); bad {
				return p, true
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if badText(k, false) {
				if path == "" {
					return "body", true
				}
				return path, true
			}
			p := k
			if path != "" {
				p = path + "." + k
			}
			if p, bad := firstBadJSON(p, x[k]); bad {
				return p, true
			}
		}
	}
	return "", false
}

// markInvalidUTF8 replaces each byte that is not UTF-8 with the JSON escape
// \u0000, so the walk names the field that held it: encoding/json would
// silently turn it into U+FFFD.
func markInvalidUTF8(raw []byte) []byte {
	if utf8.Valid(raw) {
		return raw
	}
	out := make([]byte, 0, len(raw)+16)
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		if r == utf8.RuneError && n == 1 {
			out = append(out, `\u0000`...)
		} else {
			out = append(out, raw[:n]...)
		}
		raw = raw[n:]
	}
	return out
}

// inputProblem finds the first bad input of the request, or "".
func inputProblem(c echo.Context) (string, error) {
	r := c.Request()
	for i, name := range c.ParamNames() {
		vals := c.ParamValues()
		if i >= len(vals) {
			break
		}
		v := vals[i]
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		if badText(v, false) {
			return name, nil
		}
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err == nil {
			if f, bad := firstBadValue(q); bad {
				return f, nil
			}
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch {
	case ctype == echo.MIMEApplicationJSON || strings.HasSuffix(ctype, "+json"):
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return "", err
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		var v any
		if json.Unmarshal(markInvalidUTF8(raw), &v) != nil {
			return "", nil // the handler answers a malformed body
		}
		if f, bad := firstBadJSON("", v); bad {
			return f, nil
		}
	case ctype == echo.MIMEApplicationForm || ctype == echo.MIMEMultipartForm:
		if ctype == echo.MIMEMultipartForm {
			if err := r.ParseMultipartForm(maxFormBytes); err != nil {
				return "", nil // the handler answers a malformed form
			}
		} else if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return "", err
			}
			return "", nil
		}
		if f, bad := firstBadValue(r.PostForm); bad {
			return f, nil
		}
	}
	return "", nil
}

// rejectControlChars is the one input check every route goes through (see
// the comment at the top of this file).
func (s *Server) rejectControlChars(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.HasPrefix(c.Request().URL.Path, "/api/oauth/") {
			return next(c)
		}
		field, err := inputProblem(c)
		if err != nil {
			return err
		}
		if field == "" {
			return next(c)
		}
		return controlCharError(field)
	}
}
