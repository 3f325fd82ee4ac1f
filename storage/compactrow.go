package storage

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/identityd/identityd/models"
)

// compactRow is an access token row as the lookup cache keeps it: only what
// toRequest reads, in as few bytes as the hot path allows (issue 14: a full
// requestRow cost ~1.8 KB per entry, most of it the session JSON and
// strings every token of a client repeats).
//
//   - What tokens of one client share (the client id, the four scope and
//     audience lists, the sanitized form) is one interned tokenShape:
//     unique.Make keeps a single copy however many entries use it, and
//     drops it once no entry does.
//   - The session JSON is deflated against a dictionary of the JSON's
//     fixed text, and inflated again on a hit: the bytes fosite unmarshals
//     are exactly the stored ones.
//   - The signature, tenant, login session, subject and expiry columns are
//     left out: nothing on the lookup path reads them (the key is the
//     signature).
type compactRow struct {
	requestID string
	session   string // the session JSON, deflated when deflated is set
	shape     unique.Handle[tokenShape]
	sec       int64 // RequestedAt, UTC
	nsec      int32
	deflated  bool
	active    bool
}

// tokenShape is what the tokens of one client and grant share. Its fields
// are strings so that it is comparable (unique.Make needs that).
type tokenShape struct {
	clientID string
	lists    string // Scopes, GrantedScopes, Audience, GrantedAudience: see encodeLists
	form     string
}

// compactRowOf returns the cache form of row.
func compactRowOf(row *requestRow) compactRow {
	c := compactRow{
		requestID: strings.Clone(row.RequestID),
		shape: unique.Make(tokenShape{
			clientID: row.ClientID,
			lists:    encodeLists(row.Scopes, row.GrantedScopes, row.Audience, row.GrantedAudience),
			form:     row.FormData,
		}),
		sec:    row.RequestedAt.Unix(),
		nsec:   int32(row.RequestedAt.Nanosecond()),
		active: row.Active,
	}
	if d, ok := deflateSession(row.SessionData); ok {
		c.session, c.deflated = d, true
	} else {
		c.session = strings.Clone(row.SessionData)
	}
	return c
}

// row rebuilds the columns toRequest reads (and Active). The lists share
// one backing array; toRequest copies them before fosite sees them.
// fill sets *row to the row the entry holds.
func (c *compactRow) fill(row *requestRow) error {
	r, err := c.row()
	if err != nil {
		return err
	}
	*row = r
	return nil
}

func (c *compactRow) row() (requestRow, error) {
	shape := c.shape.Value()
	row := requestRow{
		RequestID:   c.requestID,
		ClientID:    shape.clientID,
		RequestedAt: time.Unix(c.sec, int64(c.nsec)).UTC(),
		FormData:    shape.form,
		SessionData: c.session,
		Active:      c.active,
	}
	lists, err := decodeLists(shape.lists)
	if err != nil {
		return row, err
	}
	row.Scopes, row.GrantedScopes, row.Audience, row.GrantedAudience = lists[0], lists[1], lists[2], lists[3]
	if c.deflated {
		if row.SessionData, err = inflateSession(c.session); err != nil {
			return row, err
		}
	}
	return row, nil
}

// encodeLists packs string lists into one string: per list a byte (0 nil,
// 1 not) and a uvarint count, then per element a uvarint length and the
// bytes. nil and empty stay apart, as the database read keeps them.
func encodeLists(lists ...models.StringList) string {
	var b []byte
	for _, l := range lists {
		if l == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return string(b)
}

var errCorruptLists = fmt.Errorf("lookup cache: corrupt list encoding")

// decodeLists reverses encodeLists for its four lists: the elements are
// substrings of s, and the lists share one array (each capped at its length).
func decodeLists(s string) ([4]models.StringList, error) {
	var out [4]models.StringList
	total, counts := 0, [4]int{}
	p := 0
	uvarint := func() (int, bool) {
		var n uint64
		for shift := 0; p < len(s) && shift < 64; shift += 7 {
			b := s[p]
			p++
			n |= uint64(b&0x7f) << shift
			if b < 0x80 {
				if n > uint64(len(s)) {
					return 0, false
				}
				return int(n), true
			}
		}
		return 0, false
	}
	// First pass: counts, so one array holds every element.
	for i := range out {
		if p >= len(s) {
			return out, errCorruptLists
		}
		present := s[p]
		p++
		if present == 0 {
			counts[i] = -1
			continue
		}
		n, ok := uvarint()
		if !ok {
			return out, errCorruptLists
		}
		counts[i] = n
		total += n
		for range n {
			l, ok := uvarint()
			if !ok || p+l > len(s) {
				return out, errCorruptLists
			}
			p += l
		}
	}
	all := make([]string, 0, total)
	p = 0
	for i := range out {
		p++ // presence byte
		if counts[i] < 0 {
			continue
		}
		_, _ = uvarint()
		start := len(all)
		for range counts[i] {
			l, _ := uvarint()
			all = append(all, s[p:p+l])
			p += l
		}
		out[i] = models.StringList(all[start:len(all):len(all)])
	}
	return out, nil
}

// sessionDict is the fixed text of a stored session (oauth.Session's JSON,
// fosite's openid.DefaultSession inside), the deflate dictionary: what every
// session repeats then costs a few bits. The most common text goes last
// (deflate finds recent matches in fewer bits).
var sessionDict = []byte(`urn:identity:acr:pwdurn:identity:acr:mfa"amr":["pwd","otp","mfa","hwk","user"]` +
	`,"extra":{"acr":"","amr":[],"auth_time":0,"tenant_id":""},"sid":"",` +
	`"ext":{"email":"","tenant_id":""},"authorize_code":"","refresh_token":"","kind":"user","sid":"` +
	`{"oidc":{"id_token_claims":{"jti":"","iss":"https://","sub":"","aud":null,"nonce":"",` +
	`"exp":"0001-01-01T00:00:00Z","iat":"0001-01-01T00:00:00Z","rat":"0001-01-01T00:00:00Z",` +
	`"auth_time":"0001-01-01T00:00:00Z","at_hash":"","acr":"","amr":null,"c_hash":"","ext":{}},` +
	`"headers":{"extra":{}},"expires_at":{"access_token":"-00:00","authorize_code":"","refresh_token":""},` +
	`"username":"","subject":""},"tenant_id":"","client_id":"","kind":"client"}`)

// deflateLevel: every level from 2 up uses the dictionary and comes within
// a few bytes of the best (848 → 229 bytes for a user's session); what a
// miss pays is mostly the Reset, which is the same for all of them. Level 1
// ignores the dictionary.
const deflateLevel = 2

type deflater struct {
	w   *flate.Writer
	buf bytes.Buffer
}

var deflaters = sync.Pool{New: func() any {
	d := &deflater{}
	w, err := flate.NewWriterDict(&d.buf, deflateLevel, sessionDict)
	if err != nil {
		panic(err) // only for an invalid level, and deflateLevel is valid
	}
	d.w = w
	return d
}}

type inflater struct {
	src strings.Reader
	r   io.ReadCloser
	buf bytes.Buffer
}

var inflaters = sync.Pool{New: func() any {
	in := &inflater{}
	in.r = flate.NewReaderDict(&in.src, sessionDict)
	return in
}}

// deflateSession compresses a session's JSON; false when that saves nothing.
func deflateSession(data string) (string, bool) {
	if len(data) < 64 {
		return "", false
	}
	d := deflaters.Get().(*deflater)
	defer deflaters.Put(d)
	d.buf.Reset()
	d.w.Reset(&d.buf)
	if _, err := io.WriteString(d.w, data); err != nil {
		return "", false
	}
	if err := d.w.Close(); err != nil {
		return "", false
	}
	if d.buf.Len() >= len(data) {
		return "", false
	}
	return d.buf.String(), true
}

// inflateSession reverses deflateSession.
func inflateSession(data string) (string, error) {
	in := inflaters.Get().(*inflater)
	defer inflaters.Put(in)
	in.src.Reset(data)
	if err := in.r.(flate.Resetter).Reset(&in.src, sessionDict); err != nil {
		return "", fmt.Errorf("lookup cache: inflate session: %w", err)
	}
	in.buf.Reset()
	if _, err := in.buf.ReadFrom(in.r); err != nil {
		return "", fmt.Errorf("lookup cache: inflate session: %w", err)
	}
	return in.buf.String(), nil
}
